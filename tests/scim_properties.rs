//! Property tests for the SCIM core: the typed User model against the served schemas, PATCH
//! application (`scim_patch::apply`) on valid user documents, and the shared list parameters.

use proptest::prelude::*;
use rota::domain::ids::UserId;
use rota::domain::scim_filter::{parse_filter, parse_path};
use rota::domain::scim_group::{MemberChange, MemberOp, plan};
use rota::domain::scim_list::ListParams;
use rota::domain::scim_patch::{self, Op, Operation};
use rota::domain::scim_resource::{self, Group, ListResponse, Member, Meta};
use rota::domain::scim_schema::{ENTERPRISE_USER, Misfits, conform_user};
use rota::domain::scim_user::{
    Address, EnterpriseUser, Manager, MultiValued, Name, User, fitted, schemas_of,
};
use serde_json::{Map, Value, json};

/// Text a client may send in any single-line attribute: no control or format characters
/// (which the schema refuses, or names refuse), not blank.
fn text() -> impl Strategy<Value = String> {
    "[^\\p{C}\\s][^\\p{C}]{0,11}"
}

fn some_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(text())
}

fn multi_valued() -> impl Strategy<Value = MultiValued> {
    (
        text(),
        prop::option::of(any::<bool>()),
        some_text(),
        some_text(),
    )
        .prop_map(|(value, primary, kind, display)| MultiValued {
            value: Some(value),
            primary,
            kind,
            display,
        })
}

fn address() -> impl Strategy<Value = Address> {
    (
        text(),
        some_text(),
        some_text(),
        some_text(),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(formatted, street, locality, country, primary)| Address {
            formatted: Some(formatted),
            street_address: street,
            locality,
            country,
            primary,
            ..Address::default()
        })
}

fn name() -> impl Strategy<Value = Option<Name>> {
    prop::option::of((text(), some_text(), some_text(), some_text()).prop_map(
        |(formatted, family, given, prefix)| Name {
            formatted: Some(formatted),
            family_name: family,
            given_name: given,
            honorific_prefix: prefix,
            ..Name::default()
        },
    ))
}

fn enterprise() -> impl Strategy<Value = Option<EnterpriseUser>> {
    prop::option::of(
        (
            text(),
            some_text(),
            some_text(),
            prop::option::of((text(), some_text())),
        )
            .prop_map(
                |(number, department, cost_center, manager)| EnterpriseUser {
                    employee_number: Some(number),
                    department,
                    cost_center,
                    manager: manager.map(|(value, reference)| Manager {
                        value: Some(value),
                        reference,
                        display_name: None,
                    }),
                    ..EnterpriseUser::default()
                },
            ),
    )
}

/// Any user a client could send, as the typed model.
fn user() -> impl Strategy<Value = User> {
    (
        (text(), some_text(), name(), some_text(), some_text()),
        (some_text(), some_text(), prop::option::of(any::<bool>())),
        (
            prop::collection::vec(multi_valued(), 0..3),
            prop::collection::vec(multi_valued(), 0..3),
            prop::collection::vec(address(), 0..2),
            prop::collection::vec(multi_valued(), 0..3),
        ),
        enterprise(),
    )
        .prop_map(
            |(
                (user_name, external_id, name, display_name, title),
                (locale, timezone, active),
                (emails, phone_numbers, addresses, roles),
                enterprise,
            )| User {
                external_id,
                user_name,
                name,
                display_name,
                title,
                locale,
                timezone,
                active,
                emails,
                phone_numbers,
                addresses,
                roles,
                enterprise,
                ..User::default()
            },
        )
}

fn meta() -> impl Strategy<Value = Meta> {
    (text(), text(), 1i64..1000, text()).prop_map(|(created, modified, version, location)| Meta {
        resource_type: "Group".into(),
        created,
        last_modified: modified,
        version: format!("W/\"{version}\""),
        location,
    })
}

fn group() -> impl Strategy<Value = Group> {
    (
        text(),
        text(),
        prop::collection::vec(text(), 0..4),
        meta(),
        some_text(),
    )
        .prop_map(|(id, display_name, members, meta, external_id)| Group {
            schemas: vec![scim_resource::GROUP_SCHEMA.into()],
            id,
            display_name,
            members: members
                .into_iter()
                .map(|m| Member {
                    reference: format!("https://rota.example/scim/v2/Users/{m}"),
                    value: m,
                    kind: "User".into(),
                })
                .collect(),
            meta,
            external_id,
        })
}

fn ids(max: usize) -> impl Strategy<Value = Vec<UserId>> {
    prop::collection::vec("u[0-9]{1,2}".prop_map(UserId), 0..max)
}

/// Members as the store holds them: each once.
fn members() -> impl Strategy<Value = Vec<UserId>> {
    ids(12).prop_map(|mut ids| {
        let mut seen = std::collections::HashSet::new();
        ids.retain(|id| seen.insert(id.clone()));
        ids
    })
}

fn member_op() -> impl Strategy<Value = MemberOp> {
    prop_oneof![
        ids(6).prop_map(MemberOp::Add),
        ids(6).prop_map(MemberOp::Remove),
        ids(6).prop_map(MemberOp::Replace),
        Just(MemberOp::RemoveAll),
        "u[0-9]".prop_map(|id| MemberOp::RemoveWhere(
            parse_filter(&format!("value eq \"{id}\"")).unwrap()
        )),
    ]
}

/// The members after a change.
fn after(current: &[UserId], change: &MemberChange) -> Vec<UserId> {
    let mut out: Vec<UserId> = current
        .iter()
        .filter(|id| !change.remove.contains(id))
        .cloned()
        .collect();
    out.extend(change.add.iter().cloned());
    out
}

fn sorted(mut ids: Vec<UserId>) -> Vec<UserId> {
    ids.sort();
    ids.dedup();
    ids
}

/// A single-valued string attribute a PATCH may name, as a path (core, complex sub-attribute,
/// or the enterprise extension with and without its URN).
fn string_path() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "title",
        "nickName",
        "displayName",
        "locale",
        "userType",
        "name.givenName",
        "name.familyName",
        "department",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter",
    ])
}

fn op(op: Op, path: &str, value: Option<Value>) -> Operation {
    Operation {
        op,
        path: Some(parse_path(path).expect("a valid path")),
        value,
    }
}

/// The document as it is stored: made to fit, what no schema holds dropped.
fn stored(doc: &Value) -> Map<String, Value> {
    conform_user(doc, Misfits::Drop).expect("a user document")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_user_round_trips_through_json_and_the_served_schemas(user in user()) {
        // serialize → parse → same
        let text = serde_json::to_string(&user).unwrap();
        prop_assert_eq!(&serde_json::from_str::<User>(&text).unwrap(), &user);
        // The model names only what /Schemas declares, with its types: fitting the document
        // to the schemas changes nothing, and it reads back as the same user.
        let doc = user.to_document();
        let fit = conform_user(&Value::Object(doc.clone()), Misfits::Refuse).unwrap();
        prop_assert_eq!(&fit, &doc);
        prop_assert_eq!(User::from_document(&fit).unwrap(), user.clone());
        // The extension's schema is named exactly when the document has the extension.
        prop_assert_eq!(schemas_of(&fit).contains(&ENTERPRISE_USER), user.enterprise.is_some());
    }

    #[test]
    fn groups_list_responses_and_errors_round_trip(
        groups in prop::collection::vec(group(), 0..3),
        total in 0i64..10_000, start in 1i64..10_000,
        status in 400u16..600, detail in text(), scim_type in some_text(),
    ) {
        let list = ListResponse::new(groups.clone(), total, start);
        prop_assert_eq!(list.items_per_page, groups.len());
        let text = serde_json::to_string(&list).unwrap();
        prop_assert_eq!(serde_json::from_str::<ListResponse<Group>>(&text).unwrap(), list);
        // The wire names are the RFC's.
        let wire: Value = serde_json::from_str(&text).unwrap();
        prop_assert!(wire["Resources"].is_array() && wire["totalResults"] == json!(total));
        for group in &groups {
            let wire = serde_json::to_value(group).unwrap();
            prop_assert_eq!(wire.get("members").is_some(), !group.members.is_empty());
            prop_assert_eq!(wire.get("externalId").is_some(), group.external_id.is_some());
        }
        let error = scim_resource::Error::new(status, detail, scim_type.as_deref());
        let text = serde_json::to_string(&error).unwrap();
        prop_assert_eq!(serde_json::from_str::<scim_resource::Error>(&text).unwrap(), error.clone());
        let wire: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&wire["status"], &json!(status.to_string()));
    }

    #[test]
    fn a_member_change_only_adds_newcomers_and_removes_members(
        current in members(), ops in prop::collection::vec(member_op(), 0..5),
    ) {
        let change = plan(&current, ops);
        prop_assert!(change.add.iter().all(|id| !current.contains(id)));
        prop_assert!(change.remove.iter().all(|id| current.contains(id)));
        prop_assert_eq!(sorted(change.add.clone()).len(), change.add.len());
        prop_assert_eq!(sorted(change.remove.clone()).len(), change.remove.len());
        // Whatever the operations, the members after the change are each listed once.
        let now = after(&current, &change);
        prop_assert_eq!(sorted(now.clone()).len(), now.len());
    }

    #[test]
    fn adding_newcomers_then_removing_them_restores_the_members(
        current in members(), newcomers in ids(6), by_filter in any::<bool>(),
    ) {
        let newcomers: Vec<UserId> = newcomers.into_iter().filter(|id| !current.contains(id)).collect();
        let remove = if by_filter && !newcomers.is_empty() {
            let terms: Vec<String> = newcomers.iter().map(|id| format!("value eq \"{}\"", id.0)).collect();
            MemberOp::RemoveWhere(parse_filter(&terms.join(" or ")).unwrap())
        } else {
            MemberOp::Remove(newcomers.clone())
        };
        let change = plan(&current, vec![MemberOp::Add(newcomers), remove]);
        prop_assert_eq!(change, MemberChange::default());
    }

    #[test]
    fn replace_sets_exactly_the_members_given_and_is_idempotent(current in members(), wanted in ids(8)) {
        let change = plan(&current, vec![MemberOp::Replace(wanted.clone())]);
        let now = after(&current, &change);
        prop_assert_eq!(sorted(now.clone()), sorted(wanted.clone()));
        prop_assert_eq!(plan(&now, vec![MemberOp::Replace(wanted)]), MemberChange::default());
        let cleared = plan(&current, vec![MemberOp::RemoveAll]);
        prop_assert!(cleared.add.is_empty());
        prop_assert_eq!(cleared.remove, current);
    }

    #[test]
    fn every_valid_user_gives_the_fields_of_its_row(user in user()) {
        let fields = User::from_document(&fitted(&Value::Object(user.to_document())).unwrap())
            .unwrap()
            .fields()
            .unwrap();
        prop_assert_eq!(fields.user_name.as_str(), user.user_name.trim());
        prop_assert_eq!(fields.active, user.active.unwrap_or(true));
        prop_assert!(fields.emails.len() <= user.emails.len());
        let values = fields.app_role_values();
        let mut unique = values.clone();
        unique.sort();
        unique.dedup();
        prop_assert_eq!(unique.len(), values.len());
    }

    #[test]
    fn entra_sending_booleans_as_text_reads_as_the_same_user(user in user()) {
        // Entra's default dialect: "True"/"False" for every boolean.
        let mut doc = Value::Object(user.to_document());
        fn stringify(v: &mut Value) {
            match v {
                Value::Bool(b) => *v = json!(if *b { "True" } else { "False" }),
                Value::Array(items) => items.iter_mut().for_each(stringify),
                Value::Object(m) => m.values_mut().for_each(stringify),
                _ => {}
            }
        }
        stringify(&mut doc);
        let fit = conform_user(&doc, Misfits::Refuse).unwrap();
        prop_assert_eq!(User::from_document(&fit).unwrap(), user);
    }

    #[test]
    fn replace_is_idempotent(user in user(), path in string_path(), value in text()) {
        let mut once = Value::Object(user.to_document());
        let ops = [op(Op::Replace, path, Some(json!(value)))];
        scim_patch::apply(&mut once, &ops).unwrap();
        let mut twice = once.clone();
        scim_patch::apply(&mut twice, &ops).unwrap();
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn patching_a_valid_user_keeps_it_valid_and_sets_the_value(
        user in user(), path in string_path(), value in text(), add in any::<bool>(),
    ) {
        let mut doc = Value::Object(user.to_document());
        let kind = if add { Op::Add } else { Op::Replace };
        scim_patch::apply(&mut doc, &[op(kind, path, Some(json!(value)))]).unwrap();
        let fit = fitted(&doc).unwrap();
        let patched = User::from_document(&fit).unwrap();
        prop_assert!(patched.fields().is_ok());
        // The value lands where the schema puts it, whichever way the path named it.
        let read = match path {
            "title" => patched.title,
            "nickName" => patched.nick_name,
            "displayName" => patched.display_name,
            "locale" => patched.locale,
            "userType" => patched.user_type,
            "name.givenName" => patched.name.and_then(|n| n.given_name),
            "name.familyName" => patched.name.and_then(|n| n.family_name),
            "department" => patched.enterprise.and_then(|e| e.department),
            _ => patched.enterprise.and_then(|e| e.cost_center),
        };
        prop_assert_eq!(read, Some(value));
    }

    #[test]
    fn add_then_remove_restores_an_absent_attribute(user in user(), path in string_path(), value in text()) {
        let original = Value::Object(user.to_document());
        let mut doc = original.clone();
        // Only an attribute the user does not have yet is restored by removing it.
        scim_patch::apply(&mut doc, &[op(Op::Remove, path, None)]).unwrap();
        let without = stored(&doc);
        let mut doc = Value::Object(without.clone());
        scim_patch::apply(
            &mut doc,
            &[op(Op::Add, path, Some(json!(value))), op(Op::Remove, path, None)],
        )
        .unwrap();
        prop_assert_eq!(stored(&doc), without);
    }

    #[test]
    fn adding_an_email_then_removing_it_by_filter_or_by_value_restores_the_user(
        user in user(), address in "[a-z]{1,8}@new\\.example", by_filter in any::<bool>(),
    ) {
        let original = stored(&Value::Object(user.to_document()));
        let element = json!({"value": address, "type": "other"});
        let mut doc = Value::Object(original.clone());
        scim_patch::apply(&mut doc, &[op(Op::Add, "emails", Some(json!([element.clone()])))]).unwrap();
        let emails = User::from_document(&stored(&doc)).unwrap().emails;
        prop_assert_eq!(emails.len(), user.emails.len() + 1);
        let remove = if by_filter {
            op(Op::Remove, &format!("emails[value eq \"{address}\"]"), None)
        } else {
            // Entra's default dialect: the elements to remove as the value.
            op(Op::Remove, "emails", Some(json!([element])))
        };
        scim_patch::apply(&mut doc, &[remove]).unwrap();
        prop_assert_eq!(stored(&doc), original);
    }

    #[test]
    fn read_only_attributes_are_refused_whatever_the_op(
        user in user(),
        attr in prop::sample::select(vec!["id", "meta", "schemas", "ID", "Meta"]),
        kind in prop::sample::select(vec![Op::Add, Op::Replace, Op::Remove]),
    ) {
        let mut doc = Value::Object(user.to_document());
        let before = doc.clone();
        let value = (kind != Op::Remove).then(|| json!("x"));
        let refused = scim_patch::apply(&mut doc, &[op(kind, attr, value)]).unwrap_err();
        prop_assert_eq!(refused.0, "mutability");
        prop_assert_eq!(doc, before);
    }

    #[test]
    fn a_pathless_replace_sets_each_attribute_it_names(
        user in user(), title in text(), department in text(), given in text(),
    ) {
        let mut doc = Value::Object(user.to_document());
        let ops = [Operation {
            op: Op::Replace,
            path: None,
            value: Some(json!({
                "title": title,
                "name.givenName": given,
                ENTERPRISE_USER: {"department": department},
            })),
        }];
        scim_patch::apply(&mut doc, &ops).unwrap();
        let patched = User::from_document(&fitted(&doc).unwrap()).unwrap();
        prop_assert_eq!(patched.title, Some(title));
        prop_assert_eq!(patched.name.and_then(|n| n.given_name), Some(given));
        prop_assert_eq!(patched.enterprise.and_then(|e| e.department), Some(department));
        prop_assert_eq!(patched.user_name, user.user_name);
    }

    #[test]
    fn list_parameters_stay_in_range_and_never_panic(
        start in any::<i64>(), count in any::<i64>(), garbage in ".{0,40}",
    ) {
        let p = ListParams::from_query(&format!("startIndex={start}&count={count}")).unwrap();
        prop_assert!(p.start_index >= 1);
        prop_assert!((0..=rota::domain::scim_list::MAX_RESULTS).contains(&p.count));
        let _ = ListParams::from_query(&garbage);
        let _ = ListParams::from_map(&json!({"filter": garbage, "sortBy": garbage}));
    }

    #[test]
    fn projection_keeps_id_and_schemas_and_only_what_was_asked(
        user in user(),
        asked in prop::sample::subsequence(vec!["userName", "title", "emails", "name.givenName"], 0..4),
    ) {
        let mut doc = user.to_document();
        doc.insert("id".into(), json!("u-1"));
        doc.insert("schemas".into(), json!(["x"]));
        let params = ListParams::from_map(&json!({"attributes": asked.join(",")})).unwrap();
        let Value::Object(projected) = params.project(Value::Object(doc.clone())) else {
            panic!("a projected object")
        };
        prop_assert_eq!(&projected["id"], &json!("u-1"));
        prop_assert!(projected.contains_key("schemas"));
        for key in projected.keys() {
            let wanted = asked.is_empty()
                || key == "id" || key == "schemas"
                || asked.iter().any(|a| a.split('.').next() == Some(key.as_str()));
            prop_assert!(wanted, "{} was not asked for", key);
        }
        let excluded = ListParams::from_map(&json!({"excludedAttributes": asked.join(",")})).unwrap();
        let Value::Object(rest) = excluded.project(Value::Object(doc)) else {
            panic!("a projected object")
        };
        for a in asked.iter().filter(|a| !a.contains('.')) {
            prop_assert!(!rest.contains_key(*a));
        }
    }
}
