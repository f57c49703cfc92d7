//! The OpenAPI 3 document, generated from the handlers' annotations, and Swagger UI (served
//! from the binary; no CDN).

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

#[derive(OpenApi)]
#[openapi(
    info(title = "Rota REST API", version = "2", description = "PagerDuty REST API v2 compatible. Authenticate with `Authorization: Token token=<API token>` or `Authorization: Bearer <API token>`, or with the session cookie of a signed-in browser (state changes then need the `X-CSRF-Token` header)."),
    paths(
        super::users::list, super::users::create, super::users::show, super::users::update, super::users::remove,
        super::users::me, super::users::list_sessions, super::users::revoke_sessions, super::users::revoke_session,
        super::contact_methods::list, super::contact_methods::create, super::contact_methods::show,
        super::contact_methods::update, super::contact_methods::remove, super::contact_methods::test,
        super::contact_methods::list_rules, super::contact_methods::create_rule, super::contact_methods::show_rule,
        super::contact_methods::update_rule, super::contact_methods::remove_rule,
        super::teams::list, super::teams::create, super::teams::show, super::teams::update, super::teams::remove,
        super::teams::members, super::teams::put_member, super::teams::remove_member,
        super::audit::list, super::audit::for_user, super::audit::for_team,
        super::licences::list, super::licences::update, super::licences::allocations,
        super::licences::allocations_csv, super::licences::allocate, super::licences::reclaim,
        super::licences::queue, super::licences::usage_by_team, super::licences::usage_history,
        super::schedules::list, super::schedules::create, super::schedules::preview, super::schedules::show,
        super::schedules::update, super::schedules::remove, super::schedules::users,
        super::schedules::list_overrides, super::schedules::create_overrides, super::schedules::import_roster,
        super::schedules::delete_override,
        super::escalation_policies::list, super::escalation_policies::create, super::escalation_policies::show,
        super::escalation_policies::update, super::escalation_policies::remove,
        super::services::list, super::services::create, super::services::show, super::services::update,
        super::services::remove, super::services::create_integration, super::services::show_integration,
        super::services::remove_integration,
        super::incidents::list, super::incidents::show, super::incidents::update, super::incidents::update_many,
        super::incidents::incident_log_entries, super::incidents::all_log_entries, super::incidents::show_log_entry,
        super::incidents::notes, super::incidents::create_note, super::incidents::alerts,
        super::incidents::related_changes, super::incidents::service_changes,
        super::status_updates::list, super::status_updates::create, super::status_updates::subscribers,
        super::status_updates::subscribe, super::status_updates::unsubscribe, super::status_updates::show_summary,
        super::related::list,
        super::chat::list, super::chat::create, super::chat::remove, super::chat::post_summary,
        super::postmortems::create, super::postmortems::show, super::postmortems::draft,
        super::postmortems::update, super::postmortems::action_items, super::postmortems::of_team,
        super::analytics::services, super::analytics::teams,
        crate::http::events::enqueue, crate::http::events::change_enqueue, crate::http::events::azure_monitor,
        crate::http::twilio::gather, crate::http::twilio::status,
        super::oncalls::list, super::oncalls::mine, super::oncalls::notifications, super::oncalls::set_notifications,
        super::calendar::create_mine, super::calendar::delete_mine,
        super::calendar::create_for_schedule, super::calendar::delete_for_schedule,
        super::tokens::list, super::tokens::create, super::tokens::revoke,
    ),
    modifiers(&Security),
    tags((name = "Users"), (name = "Teams"), (name = "Audit"), (name = "Licenses"), (name = "Schedules"), (name = "Escalation Policies"), (name = "Services"), (name = "Incidents"), (name = "Analytics"), (name = "Events API v2"), (name = "Twilio callbacks"), (name = "On-Calls"), (name = "Calendar"))
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "Token token=<API token>",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn swagger_ui() -> SwaggerUi {
    SwaggerUi::new("/api/docs/{_:.*}").url("/api/v2/openapi.json", ApiDoc::openapi())
}
