//! Table definitions shared by both backends. Keep in step with `migrations/sqlite` and
//! `migrations/postgres`: the test `migrations_match_schema` fails when they drift.

diesel::table! {
    users (id) {
        id -> Text,
        tenant_id -> Nullable<Text>,
        object_id -> Nullable<Text>,
        user_name -> Text,
        user_name_key -> Text,
        external_id -> Nullable<Text>,
        name -> Text,
        given_name -> Nullable<Text>,
        family_name -> Nullable<Text>,
        email -> Nullable<Text>,
        job_title -> Nullable<Text>,
        description -> Nullable<Text>,
        time_zone -> Text,
        locale -> Nullable<Text>,
        role -> Text,
        licence -> Nullable<Text>,
        active -> Bool,
        provisioned_by -> Text,
        last_sign_in_at -> Nullable<Timestamp>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        name_formatted -> Nullable<Text>,
        middle_name -> Nullable<Text>,
        honorific_prefix -> Nullable<Text>,
        honorific_suffix -> Nullable<Text>,
        nick_name -> Nullable<Text>,
        user_type -> Nullable<Text>,
        preferred_language -> Nullable<Text>,
        addresses -> Text,
        scim_roles -> Text,
        employee_number -> Nullable<Text>,
        cost_center -> Nullable<Text>,
        organization -> Nullable<Text>,
        division -> Nullable<Text>,
        department -> Nullable<Text>,
        manager_id -> Nullable<Text>,
        deleted_at -> Nullable<Timestamp>,
        scim_document -> Nullable<Text>,
        app_roles -> Text,
        user_name_source -> Text,
        external_id_shared -> Bool,
        name_key -> Text,
        given_name_key -> Nullable<Text>,
        family_name_key -> Nullable<Text>,
        name_formatted_key -> Nullable<Text>,
        middle_name_key -> Nullable<Text>,
        nick_name_key -> Nullable<Text>,
        job_title_key -> Nullable<Text>,
        user_type_key -> Nullable<Text>,
        preferred_language_key -> Nullable<Text>,
        locale_key -> Nullable<Text>,
        time_zone_key -> Text,
        employee_number_key -> Nullable<Text>,
        cost_center_key -> Nullable<Text>,
        organization_key -> Nullable<Text>,
        division_key -> Nullable<Text>,
        department_key -> Nullable<Text>,
        email_key -> Nullable<Text>,
    }
}

diesel::table! {
    contact_tests (id) {
        id -> Text,
        user_id -> Text,
        contact_method_id -> Text,
        channel -> Text,
        address -> Text,
        email_id -> Nullable<Text>,
        created_at -> Timestamp,
        next_attempt_at -> Timestamp,
        attempts -> Integer,
        claimed_until -> Nullable<Timestamp>,
        sent_at -> Nullable<Timestamp>,
        failed_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        provider_ref -> Nullable<Text>,
    }
}

diesel::table! {
    contact_methods (id) {
        id -> Text,
        user_id -> Text,
        kind -> Text,
        label -> Text,
        address -> Text,
        is_primary -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        address_key -> Text,
        label_key -> Text,
        source -> Text,
        country_code -> Nullable<Integer>,
    }
}

diesel::table! {
    notification_rules (id) {
        id -> Text,
        user_id -> Text,
        contact_method_id -> Text,
        urgency -> Text,
        start_delay_in_minutes -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    teams (id) {
        id -> Text,
        name -> Text,
        name_key -> Text,
        description -> Nullable<Text>,
        external_id -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    team_members (team_id, user_id) {
        team_id -> Text,
        user_id -> Text,
        role -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        demoted_role -> Nullable<Text>,
    }
}

diesel::table! {
    tokens (id) {
        id -> Text,
        kind -> Text,
        name -> Text,
        role -> Nullable<Text>,
        secret_hash -> Text,
        hint -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        user_id -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        occurred_at -> Timestamp,
        actor_type -> Text,
        actor_id -> Nullable<Text>,
        actor_name -> Text,
        action -> Text,
        target_type -> Text,
        target_id -> Text,
        target_name -> Text,
        before_state -> Nullable<Text>,
        after_state -> Nullable<Text>,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        secret_hash -> Text,
        user_id -> Text,
        method -> Text,
        user_agent -> Nullable<Text>,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    sign_in_attempts (state_hash) {
        state_hash -> Text,
        nonce -> Text,
        pkce_verifier -> Text,
        return_to -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    break_glass_accounts (user_id) {
        user_id -> Text,
        password_hash -> Text,
        enabled_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Which version of `domain::caseless` computed the stored keys (one row).
    key_folding (id) {
        id -> Integer,
        version -> BigInt,
    }
}

diesel::table! {
    /// The processing version of each background job that the schema requires
    /// (`jobs::processing`).
    processing_versions (job) {
        job -> Text,
        version -> Integer,
    }
}

diesel::table! {
    server_keys (name) {
        name -> Text,
        secret -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    used_action_links (jti) {
        jti -> Text,
        incident_id -> Text,
        used_at -> Timestamp,
    }
}

diesel::table! {
    emails (id) {
        id -> Text,
        to_address -> Text,
        subject -> Text,
        body -> Text,
        reason -> Text,
        created_at -> Timestamp,
        next_attempt_at -> Timestamp,
        attempts -> Integer,
        claimed_until -> Nullable<Timestamp>,
        sent_at -> Nullable<Timestamp>,
        failed_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        list_unsubscribe -> Nullable<Text>,
    }
}

diesel::table! {
    licences (id) {
        id -> Text,
        cap -> Nullable<BigInt>,
        held -> BigInt,
        warned_percent -> Nullable<Integer>,
        configured_cap -> Nullable<Text>,
        updated_at -> Timestamp,
        peak_day -> Nullable<Text>,
        day_peak -> BigInt,
    }
}

diesel::table! {
    seats (user_id) {
        user_id -> Text,
        since -> Nullable<Timestamp>,
        reason -> Nullable<Text>,
        allocated_by -> Nullable<Text>,
        wanted -> Nullable<Text>,
        queued_at -> Nullable<Timestamp>,
        queue_reason -> Nullable<Text>,
        pinned -> Nullable<Text>,
        ruled_role -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    licence_usage_days (day, licence) {
        day -> Text,
        licence -> Text,
        cap -> Nullable<BigInt>,
        held -> BigInt,
        peak_held -> BigInt,
        queued -> BigInt,
    }
}

diesel::table! {
    job_runs (job, run_key) {
        job -> Text,
        run_key -> Text,
        started_at -> Timestamp,
        summary -> Nullable<Text>,
    }
}

diesel::table! {
    schedules (id) {
        id -> Text,
        name -> Text,
        name_key -> Text,
        description -> Nullable<Text>,
        time_zone -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    schedule_teams (schedule_id, team_id) {
        schedule_id -> Text,
        team_id -> Text,
    }
}

diesel::table! {
    schedule_layers (id) {
        id -> Text,
        schedule_id -> Text,
        position -> Integer,
        name -> Text,
        removed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    schedule_layer_versions (layer_id, seq) {
        layer_id -> Text,
        seq -> Integer,
        starts_at -> Timestamp,
        ends_at -> Nullable<Timestamp>,
        rotation_virtual_start -> Text,
        turn_length_seconds -> BigInt,
        users -> Text,
        restrictions -> Text,
    }
}

diesel::table! {
    schedule_overrides (id) {
        id -> Text,
        schedule_id -> Text,
        user_id -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    escalation_policies (id) {
        id -> Text,
        name -> Text,
        name_key -> Text,
        description -> Nullable<Text>,
        num_loops -> Integer,
        handoff_notifications -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    escalation_policy_teams (policy_id, team_id) {
        policy_id -> Text,
        team_id -> Text,
    }
}

diesel::table! {
    escalation_rules (id) {
        id -> Text,
        policy_id -> Text,
        position -> Integer,
        delay_minutes -> Integer,
    }
}

diesel::table! {
    escalation_targets (rule_id, position) {
        rule_id -> Text,
        position -> Integer,
        user_id -> Nullable<Text>,
        schedule_id -> Nullable<Text>,
    }
}

diesel::table! {
    calendar_feeds (id) {
        id -> Text,
        secret_hash -> Text,
        user_id -> Nullable<Text>,
        schedule_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    handoff_notices (schedule_id, user_id, kind, at) {
        schedule_id -> Text,
        user_id -> Text,
        kind -> Text,
        at -> Timestamp,
        due_at -> Timestamp,
        fate -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    oncall_notification_settings (user_id) {
        user_id -> Text,
        handoff -> Text,
        reminder_hours -> Nullable<Integer>,
        updated_at -> Timestamp,
    }
}

// Grows with every committed change to what "who is on call" reads (database triggers bump
// it; see the migration `000043_oncall_changes`). One row, `id` 1.
diesel::table! {
    oncall_changes (id) {
        id -> Integer,
        n -> BigInt,
    }
}

diesel::table! {
    services (id) {
        id -> Text,
        name -> Text,
        name_key -> Text,
        description -> Nullable<Text>,
        escalation_policy_id -> Text,
        urgency_rule -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    service_teams (service_id, team_id) {
        service_id -> Text,
        team_id -> Text,
    }
}

diesel::table! {
    service_integrations (id) {
        id -> Text,
        service_id -> Text,
        kind -> Text,
        name -> Text,
        key_hash -> Text,
        key_hint -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    incidents (id) {
        id -> Text,
        number -> BigInt,
        title -> Text,
        status -> Text,
        urgency -> Text,
        incident_key -> Text,
        service_id -> Text,
        escalation_policy_id -> Text,
        escalation_level -> Integer,
        escalation_loops -> Integer,
        escalate_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_status_change_at -> Timestamp,
        resolved_at -> Nullable<Timestamp>,
        version -> BigInt,
    }
}

diesel::table! {
    incident_assignments (incident_id, user_id) {
        incident_id -> Text,
        user_id -> Text,
        assigned_at -> Timestamp,
    }
}

diesel::table! {
    alerts (id) {
        id -> Text,
        incident_id -> Text,
        service_id -> Text,
        integration_id -> Text,
        dedup_key -> Text,
        status -> Text,
        severity -> Nullable<Text>,
        summary -> Text,
        source -> Nullable<Text>,
        component -> Nullable<Text>,
        alert_group -> Nullable<Text>,
        class -> Nullable<Text>,
        custom_details -> Nullable<Text>,
        extras -> Text,
        event_count -> BigInt,
        created_at -> Timestamp,
        last_event_at -> Timestamp,
        resolved_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    incident_log_entries (id) {
        id -> Text,
        incident_id -> Text,
        kind -> Text,
        created_at -> Timestamp,
        agent_kind -> Text,
        agent_id -> Nullable<Text>,
        agent_name -> Text,
        channel -> Text,
        summary -> Text,
        details -> Nullable<Text>,
    }
}

diesel::table! {
    incident_notes (id) {
        id -> Text,
        incident_id -> Text,
        user_id -> Nullable<Text>,
        user_name -> Text,
        content -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    change_events (id) {
        id -> Text,
        service_id -> Text,
        integration_id -> Text,
        summary -> Text,
        source -> Nullable<Text>,
        happened_at -> Timestamp,
        custom_details -> Nullable<Text>,
        links -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    notifications (id) {
        id -> Text,
        incident_id -> Text,
        user_id -> Text,
        rule_id -> Text,
        step -> BigInt,
        channel -> Text,
        address -> Text,
        due_at -> Timestamp,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        sent_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        provider_ref -> Nullable<Text>,
    }
}

diesel::table! {
    status_updates (id) {
        id -> Text,
        incident_id -> Text,
        message -> Text,
        author_id -> Nullable<Text>,
        author_name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    subscriptions (id) {
        id -> Text,
        user_id -> Text,
        incident_id -> Nullable<Text>,
        service_id -> Nullable<Text>,
        team_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    chat_channels (id) {
        id -> Text,
        kind -> Text,
        name -> Text,
        url -> Text,
        url_hint -> Text,
        language -> Text,
        service_id -> Nullable<Text>,
        team_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    chat_posts (id) {
        id -> Text,
        channel_id -> Text,
        incident_id -> Text,
        event -> Text,
        created_at -> Timestamp,
        next_attempt_at -> Timestamp,
        attempts -> Integer,
        claimed_until -> Nullable<Timestamp>,
        sent_at -> Nullable<Timestamp>,
        failed_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    postmortems (incident_id) {
        incident_id -> Text,
        status -> Text,
        document -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    postmortem_action_items (incident_id, item_id) {
        incident_id -> Text,
        item_id -> Text,
        description -> Text,
        owner_id -> Nullable<Text>,
        due -> Nullable<Date>,
        status -> Text,
    }
}

diesel::joinable!(seats -> users (user_id));
diesel::joinable!(contact_methods -> users (user_id));
diesel::joinable!(notification_rules -> contact_methods (contact_method_id));
diesel::joinable!(contact_tests -> contact_methods (contact_method_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(break_glass_accounts -> users (user_id));
diesel::joinable!(team_members -> teams (team_id));
diesel::joinable!(team_members -> users (user_id));
diesel::joinable!(schedule_teams -> schedules (schedule_id));
diesel::joinable!(schedule_teams -> teams (team_id));
diesel::joinable!(schedule_layers -> schedules (schedule_id));
diesel::joinable!(schedule_layer_versions -> schedule_layers (layer_id));
diesel::joinable!(schedule_overrides -> schedules (schedule_id));
diesel::joinable!(schedule_overrides -> users (user_id));
diesel::joinable!(escalation_policy_teams -> escalation_policies (policy_id));
diesel::joinable!(escalation_policy_teams -> teams (team_id));
diesel::joinable!(escalation_rules -> escalation_policies (policy_id));
diesel::joinable!(escalation_targets -> escalation_rules (rule_id));
diesel::joinable!(escalation_targets -> schedules (schedule_id));
diesel::joinable!(calendar_feeds -> users (user_id));
diesel::joinable!(calendar_feeds -> schedules (schedule_id));
diesel::joinable!(services -> escalation_policies (escalation_policy_id));
diesel::joinable!(service_teams -> services (service_id));
diesel::joinable!(service_teams -> teams (team_id));
diesel::joinable!(service_integrations -> services (service_id));
diesel::joinable!(incidents -> services (service_id));
diesel::joinable!(incident_assignments -> incidents (incident_id));
diesel::joinable!(incident_assignments -> users (user_id));
diesel::joinable!(alerts -> incidents (incident_id));
diesel::joinable!(incident_log_entries -> incidents (incident_id));
diesel::joinable!(incident_notes -> incidents (incident_id));
diesel::joinable!(change_events -> services (service_id));
diesel::joinable!(notifications -> incidents (incident_id));
diesel::joinable!(status_updates -> incidents (incident_id));
diesel::joinable!(subscriptions -> users (user_id));
diesel::joinable!(chat_posts -> chat_channels (channel_id));
diesel::joinable!(chat_posts -> incidents (incident_id));

diesel::table! {
    scim_requests (id) {
        id -> Text,
        at -> Timestamp,
        token_id -> Nullable<Text>,
        method -> Text,
        path -> Text,
        status -> Integer,
        scim_type -> Nullable<Text>,
        detail -> Nullable<Text>,
        request_id -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    scim_requests,
    users,
    contact_methods,
    contact_tests,
    notification_rules,
    teams,
    team_members,
    tokens,
    audit_events,
    sessions,
    sign_in_attempts,
    break_glass_accounts,
    key_folding,
    processing_versions,
    server_keys,
    used_action_links,
    emails,
    licences,
    seats,
    licence_usage_days,
    job_runs,
    schedules,
    schedule_teams,
    schedule_layers,
    schedule_layer_versions,
    schedule_overrides,
    escalation_policies,
    escalation_policy_teams,
    escalation_rules,
    escalation_targets,
    calendar_feeds,
    handoff_notices,
    oncall_notification_settings,
    oncall_changes,
    services,
    service_teams,
    service_integrations,
    incidents,
    incident_assignments,
    alerts,
    incident_log_entries,
    incident_notes,
    change_events,
    notifications,
    status_updates,
    subscriptions,
    chat_channels,
    chat_posts,
    postmortems,
    postmortem_action_items
);
