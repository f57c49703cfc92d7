//! The SCIM 2.0 endpoint as Microsoft Entra ID's provisioning service drives it, replaying the
//! request sequences of Microsoft Learn's "Develop and plan provisioning for a SCIM endpoint"
//! tutorial and its known-issues page (both PATCH dialects), on SQLite and PostgreSQL.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::scim::Scim;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

impl Scim<'_> {
    async fn filter(&self, filter: &str) -> (u16, Value) {
        self.get(&format!("/Users?filter={}", urlencode(filter)))
            .await
    }

    async fn find_user(&self, user_name: &str) -> Value {
        let filter = urlencode(&format!("userName eq \"{user_name}\""));
        let (status, body) = self.get(&format!("/Users?filter={filter}")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// What Entra's provisioning service does for a user assigned to the app with an app role:
    /// match by userName, then PATCH the match (giving it the role) or, with none, create.
    async fn provision(&self, user_name: &str, app_role: &str) -> (u16, Value) {
        let roles = json!([{"primary": false, "type": "WindowsAzureActiveDirectoryRole", "value": app_role}]);
        let found = self.find_user(user_name).await;
        match found["Resources"][0]["id"].as_str() {
            Some(id) => {
                self.send_json(
                    Method::PATCH,
                    &format!("/Users/{id}"),
                    json!({
                        "schemas": [PATCH],
                        "Operations": [{"op": "replace", "path": "roles", "value": roles}],
                    }),
                )
                .await
            }
            None => {
                let mut user = entra_user(user_name, &uuid::Uuid::now_v7().to_string());
                user["roles"] = roles;
                self.send_json(Method::POST, "/Users", user).await
            }
        }
    }

    async fn create_user(&self, user_name: &str, external_id: &str) -> String {
        let (status, body) = self
            .send_json(Method::POST, "/Users", entra_user(user_name, external_id))
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The user Entra sends in the tutorial's "Create User" request.
fn entra_user(user_name: &str, external_id: &str) -> Value {
    json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [],
        "phoneNumbers": [{"type": "mobile", "value": "+81 90 1234 5678"}],
        ENTERPRISE: {"department": "SRE", "employeeNumber": "E-1"},
    })
}

fn assert_scim_error(body: &Value, status: &str, scim_type: Option<&str>) {
    assert_eq!(body["schemas"][0], ERROR, "{body}");
    assert_eq!(body["status"], status, "{body}");
    match scim_type {
        Some(t) => assert_eq!(body["scimType"], t, "{body}"),
        None => assert!(body.get("scimType").is_none(), "{body}"),
    }
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

on_both_backends! {
    async fn discovery_documents_are_served_and_read_only(app) {
        let scim = app.scim();
        let (status, spc) = scim.get("/ServiceProviderConfig").await;
        assert_eq!(status, 200);
        assert_eq!(spc["patch"]["supported"], true);
        assert_eq!(spc["filter"]["supported"], true);
        assert_eq!(spc["meta"]["location"], app.url("/scim/v2/ServiceProviderConfig"));
        let (_, types) = scim.get("/ResourceTypes").await;
        assert_eq!(types["totalResults"], 2);
        let (_, schemas) = scim.get("/Schemas").await;
        assert_eq!(schemas["totalResults"], 3);
        let (status, user) = scim.get(&format!("/Schemas/{USER}")).await;
        assert_eq!(status, 200);
        assert_eq!(user["id"], USER);
        let (status, _) = scim.get("/Schemas/urn:nothing").await;
        assert_eq!(status, 404);
        let (status, body) = scim.send_json(Method::POST, "/Schemas", json!({})).await;
        assert_eq!(status, 405);
        assert_scim_error(&body, "405", None);
    }

    async fn tokens_other_than_scim_tokens_are_refused(app) {
        let res = app.http.get(app.url("/scim/v2/Users")).send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
        assert_scim_error(&res.json().await.unwrap(), "401", None);
        let res = app.http.get(app.url("/scim/v2/Users")).bearer_auth(&app.token).send().await.unwrap();
        assert_eq!(res.status(), 401, "an API token does not open SCIM");
        let res = app.http.get(app.url("/scim/v2/Users")).bearer_auth("rota_scim_wrong").send().await.unwrap();
        assert_eq!(res.status(), 401);
    }

    async fn entra_user_lifecycle_match_create_update_disable_delete(app) {
        let scim = app.scim();
        // Test Connection: a filter for a user that does not exist answers 200 with no results.
        let probe = scim.find_user("non-existent-user-8f2e").await;
        assert_eq!(probe["totalResults"], 0);
        assert_eq!(probe["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:ListResponse");
        assert_eq!(probe["Resources"], json!([]));

        // Match, then create.
        assert_eq!(scim.find_user("Test_User_ab6490ee@contoso.com").await["totalResults"], 0);
        let (status, created) = scim.send_json(Method::POST, "/Users", entra_user("Test_User_ab6490ee@contoso.com", "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef")).await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        assert_eq!(created["userName"], "Test_User_ab6490ee@contoso.com");
        assert_eq!(created["externalId"], "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
        assert_eq!(created["name"]["familyName"], "familyName");
        assert_eq!(created["emails"][0]["value"], "Test_User_ab6490ee@contoso.com");
        assert_eq!(created["phoneNumbers"][0]["type"], "mobile");
        assert_eq!(created[ENTERPRISE]["department"], "SRE");
        assert_eq!(created["meta"]["resourceType"], "User");
        assert_eq!(created["meta"]["version"], "W/\"1\"");
        assert_eq!(created["active"], true);

        // userName is unique regardless of case.
        let (status, body) = scim.send_json(Method::POST, "/Users", entra_user("test_user_AB6490EE@contoso.com", "x")).await;
        assert_eq!(status, 409);
        assert_scim_error(&body, "409", Some("uniqueness"));

        let found = scim.find_user("TEST_USER_ab6490ee@contoso.com").await;
        assert_eq!(found["totalResults"], 1, "userName is caseExact false");
        assert_eq!(found["Resources"][0]["id"], id.as_str());
        let (status, one) = scim.get(&format!("/Users/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(one, created);

        // The user is a Rota user with their paging addresses.
        let (_, rest) = app.get(&format!("/api/v2/users/{id}")).await;
        assert_eq!(rest["user"]["provisioned_by"], "scim");
        assert_eq!(rest["user"]["contact_methods"].as_array().unwrap().len(), 2);

        // Update, default dialect: single- and multi-valued attributes.
        let (status, body) = scim.send_json(Method::PATCH, &format!("/Users/{id}"), json!({"schemas": [PATCH], "Operations": [
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@contoso.com"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            {"op": "Add", "path": "title", "value": "SRE lead"},
        ]})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["emails"][0]["value"], "updatedEmail@contoso.com");
        assert_eq!(body["name"]["familyName"], "updatedFamilyName");
        assert_eq!(body["title"], "SRE lead");
        assert_eq!(body["meta"]["version"], "W/\"2\"");

        // A PATCH that changes nothing succeeds and keeps the version.
        let (status, same) = scim.send_json(Method::PATCH, &format!("/Users/{id}"), json!({"schemas": [PATCH], "Operations": [
            {"op": "Replace", "path": "title", "value": "SRE lead"},
        ]})).await;
        assert_eq!(status, 200);
        assert_eq!(same["meta"]["version"], "W/\"2\"");

        // Disable, default dialect (booleans as strings), then re-enable in aadOptscim062020.
        let (status, body) = scim.send_json(Method::PATCH, &format!("/Users/{id}"), json!({"schemas": [PATCH], "Operations": [
            {"op": "Replace", "path": "active", "value": "False"},
        ]})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["active"], false);
        let (_, rest) = app.get(&format!("/api/v2/users/{id}")).await;
        assert_eq!(rest["user"]["active"], false, "deactivated users are marked never to be paged");
        let (status, body) = scim.send_json(Method::PATCH, &format!("/Users/{id}"), json!({"schemas": [PATCH], "Operations": [
            {"op": "replace", "value": {"active": true, "name.givenName": "Ada", "displayName": "Ada Lovelace"}},
        ]})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["active"], true);
        assert_eq!(body["name"]["givenName"], "Ada");
        assert_eq!(body["displayName"], "Ada Lovelace");
        // Default dialect's `Add` on a single-valued attribute.
        let (status, body) = scim.send_json(Method::PATCH, &format!("/Users/{id}"), json!({"schemas": [PATCH], "Operations": [
            {"op": "Add", "path": "active", "value": "False"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "mgr-1"},
        ]})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["active"], false);
        assert_eq!(body[ENTERPRISE]["manager"]["value"], "mgr-1");

        // PUT replaces the resource.
        let mut put = entra_user("Test_User_ab6490ee@contoso.com", "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
        put["displayName"] = json!("Replaced");
        let (status, body) = scim.send_json(Method::PUT, &format!("/Users/{id}"), put).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["displayName"], "Replaced");
        assert!(body.get("title").is_none());

        // Delete: gone for SCIM and the REST API, history kept, repeatable.
        let (status, _) = scim.send(scim.req(Method::DELETE, &format!("/Users/{id}"))).await;
        assert_eq!(status, 204);
        let (status, body) = scim.get(&format!("/Users/{id}")).await;
        assert_eq!(status, 404);
        assert_scim_error(&body, "404", None);
        let (status, _) = scim.send(scim.req(Method::DELETE, &format!("/Users/{id}"))).await;
        assert_eq!(status, 404);
        assert_eq!(scim.find_user("Test_User_ab6490ee@contoso.com").await["totalResults"], 0);
        let (_, audit) = app.get(&format!("/api/v2/users/{id}/audit/records")).await;
        let records = audit["records"].as_array().unwrap();
        assert!(records.len() >= 5, "{audit}");
        assert!(records.iter().all(|r| r["actors"][0]["summary"] == "entra" && r["method"]["type"] == "scim_token"));
        // The userName is free again.
        scim.create_user("Test_User_ab6490ee@contoso.com", "new-object").await;
    }

    async fn entra_group_lifecycle_and_membership_in_both_dialects(app) {
        let scim = app.scim();
        let ada = scim.create_user("ada@contoso.com", "o-1").await;
        let bob = scim.create_user("bob@contoso.com", "o-2").await;
        let filter = urlencode("displayName eq \"displayName\"");
        let (status, none) = scim.get(&format!("/Groups?excludedAttributes=members&filter={filter}")).await;
        assert_eq!((status, none["totalResults"].clone()), (200, json!(0)));
        let (status, group) = scim.send_json(Method::POST, "/Groups", json!({
            "schemas": [GROUP], "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "displayName", "meta": {"resourceType": "Group"},
        })).await;
        assert_eq!(status, 201, "{group}");
        let gid = group["id"].as_str().unwrap().to_string();
        assert_eq!(group["externalId"], "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159");
        let (status, body) = scim.send_json(Method::POST, "/Groups", json!({"schemas": [GROUP], "displayName": "DISPLAYNAME"})).await;
        assert_eq!(status, 409);
        assert_scim_error(&body, "409", Some("uniqueness"));

        // Add members (default dialect), then read them back through SCIM and the REST API.
        let (status, body) = scim.send_json(Method::PATCH, &format!("/Groups/{gid}"), json!({"schemas": [PATCH], "Operations": [
            {"op": "Add", "path": "members", "value": [{"$ref": null, "value": ada}, {"$ref": null, "value": bob}]},
        ]})).await;
        assert_eq!(status, 200, "{body}");
        let (_, g) = scim.get(&format!("/Groups/{gid}")).await;
        assert_eq!(g["members"].as_array().unwrap().len(), 2);
        let (_, members) = app.get(&format!("/api/v2/teams/{gid}/members?total=true")).await;
        assert_eq!(members["total"], 2);
        let member_filter = urlencode(&format!("id eq \"{gid}\" and members[value eq \"{ada}\"]"));
        let (_, hit) = scim.get(&format!("/Groups?excludedAttributes=members&filter={member_filter}")).await;
        assert_eq!(hit["totalResults"], 1);
        assert!(hit["Resources"][0].get("members").is_none(), "excludedAttributes=members");

        // Remove, default dialect: path "members" with a value list.
        let (status, _) = scim.send_json(Method::PATCH, &format!("/Groups/{gid}"), json!({"schemas": [PATCH], "Operations": [
            {"op": "Remove", "path": "members", "value": [{"value": ada}]},
        ]})).await;
        assert_eq!(status, 200);
        // Remove, aadOptscim062020: a value filter.
        let (status, _) = scim.send_json(Method::PATCH, &format!("/Groups/{gid}"), json!({"schemas": [PATCH], "Operations": [
            {"op": "remove", "path": format!("members[value eq \"{bob}\"]")},
            {"op": "replace", "value": {"displayName": "SRE"}},
        ]})).await;
        assert_eq!(status, 200);
        let (_, g) = scim.get(&format!("/Groups/{gid}")).await;
        assert!(g.get("members").is_none(), "{g}");
        assert_eq!(g["displayName"], "SRE");
        let (_, gone) = scim.get(&format!("/Groups?filter={member_filter}")).await;
        assert_eq!(gone["totalResults"], 0);

        // A user deleted by SCIM leaves their teams.
        scim.send_json(Method::PATCH, &format!("/Groups/{gid}"), json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": ada}]}]})).await;
        scim.send(scim.req(Method::DELETE, &format!("/Users/{ada}"))).await;
        let (_, members) = app.get(&format!("/api/v2/teams/{gid}/members?total=true")).await;
        assert_eq!(members["total"], 0);

        // Unknown members are refused; the group is unchanged.
        let (status, body) = scim.send_json(Method::PATCH, &format!("/Groups/{gid}"), json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": "nobody"}]}]})).await;
        assert_eq!(status, 400);
        assert_scim_error(&body, "400", Some("invalidValue"));

        let (status, _) = scim.send(scim.req(Method::DELETE, &format!("/Groups/{gid}"))).await;
        assert_eq!(status, 204);
        let (status, _) = scim.get(&format!("/Groups/{gid}")).await;
        assert_eq!(status, 404);
    }

    async fn review_cases_ordering_projection_echo_and_versions(app) {
        let scim = app.scim();
        let ada = scim.create_user("ada@contoso.com", "o-1").await;
        let bob = scim.create_user("bob@contoso.com", "o-2").await;
        let (_, group) = scim.send_json(Method::POST, "/Groups", json!({"displayName": "Ops"})).await;
        let gid = group["id"].as_str().unwrap().to_string();
        // Operations apply in order: add then remove leaves nothing; replace then remove too.
        let (status, _) = scim.send_json(Method::PATCH, &format!("/Groups/{gid}"), json!({"Operations": [
            {"op": "add", "path": "members", "value": [{"value": bob}]},
            {"op": "remove", "path": format!("members[value eq \"{bob}\"]")},
            {"op": "add", "path": "members", "value": [{"value": ada}]},
        ]})).await;
        assert_eq!(status, 200);
        let (_, g) = scim.get(&format!("/Groups/{gid}")).await;
        assert_eq!(g["members"].as_array().unwrap().len(), 1);
        assert_eq!(g["members"][0]["value"], ada.as_str());
        let version = g["meta"]["version"].clone();
        // Removing someone who is not a member changes nothing.
        scim.send_json(Method::PATCH, &format!("/Groups/{gid}"), json!({"Operations": [{"op": "remove", "path": "members", "value": [{"value": bob}]}]})).await;
        let (_, g) = scim.get(&format!("/Groups/{gid}")).await;
        assert_eq!(g["meta"]["version"], version);
        // Deleting a member changes the group's version.
        scim.send(scim.req(Method::DELETE, &format!("/Users/{ada}"))).await;
        let (_, g) = scim.get(&format!("/Groups/{gid}")).await;
        assert_ne!(g["meta"]["version"], version);
        assert!(g.get("members").is_none());

        // Projection by full URN, and the ETag survives it.
        let id = scim.create_user("carol@contoso.com", "o-3").await;
        scim.send_json(Method::PATCH, &format!("/Users/{id}"), json!({"Operations": [{"op": "add", "path": format!("{ENTERPRISE}:department"), "value": "SRE"}]})).await;
        let attrs = urlencode(&format!("{ENTERPRISE}:department,{USER}:userName"));
        let res = scim.req(Method::GET, &format!("/Users/{id}?attributes={attrs}")).send().await.unwrap();
        assert!(res.headers().contains_key("etag"));
        let body: Value = res.json().await.unwrap();
        assert_eq!(body[ENTERPRISE], json!({"department": "SRE"}));
        assert_eq!(body["userName"], "carol@contoso.com");
        assert!(body.get("name").is_none());
        let (_, body) = scim.get(&format!("/Users/{id}?excludedAttributes={}", urlencode(ENTERPRISE))).await;
        assert!(body.get(ENTERPRISE).is_none() && body.get("userName").is_some());

        // What must never be returned is not echoed; `emails eq null` means no e-mails.
        let (status, dave) = scim.send_json(Method::POST, "/Users", json!({"schemas": [USER], "userName": "dave@contoso.com", "password": "hunter2"})).await;
        assert_eq!(status, 201);
        assert!(dave.get("password").is_none());
        let (_, none) = scim.filter("emails eq null").await;
        assert_eq!(none["totalResults"], 1);
        assert_eq!(none["Resources"][0]["userName"], "dave@contoso.com");

        // A change made through the REST API shows in SCIM reads.
        let did = dave["id"].as_str().unwrap();
        let (status, _) = app.put(&format!("/api/v2/users/{did}"), json!({"user": {"name": "Dave Renamed"}})).await;
        assert_eq!(status, 200);
        let (_, after) = scim.get(&format!("/Users/{did}")).await;
        assert_eq!(after["displayName"], "Dave Renamed");
    }

    async fn a_thousand_members_in_one_patch(app) {
        let scim = app.scim();
        let mut ids = Vec::new();
        for i in 0..1000 {
            let (status, body) = scim.send_json(Method::POST, "/Users", json!({"schemas": [USER], "userName": format!("u{i}@contoso.com")})).await;
            assert_eq!(status, 201);
            ids.push(body["id"].as_str().unwrap().to_string());
        }
        let (_, group) = scim.send_json(Method::POST, "/Groups", json!({"schemas": [GROUP], "displayName": "Everyone"})).await;
        let gid = group["id"].as_str().unwrap();
        let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
        let (status, _) = scim.send_json(Method::PATCH, &format!("/Groups/{gid}?excludedAttributes=members"), json!({"Operations": [{"op": "Add", "path": "members", "value": members}]})).await;
        assert_eq!(status, 200);
        let (_, page) = app.get(&format!("/api/v2/teams/{gid}/members?total=true&limit=1")).await;
        assert_eq!(page["total"], 1000);
        let half: Vec<Value> = ids[..500].iter().map(|id| json!({"value": id})).collect();
        let (status, _) = scim.send_json(Method::PATCH, &format!("/Groups/{gid}?excludedAttributes=members"), json!({"Operations": [{"op": "Remove", "path": "members", "value": half}]})).await;
        assert_eq!(status, 200);
        let (_, page) = app.get(&format!("/api/v2/teams/{gid}/members?total=true&limit=1")).await;
        assert_eq!(page["total"], 500);
    }

    async fn filters_pagination_sorting_and_projection(app) {
        let scim = app.scim();
        for (name, family, dept, active) in [("ada", "Lovelace", "SRE", true), ("alan", "Turing", "Research", true), ("grace", "Hopper", "SRE", false)] {
            let mut body = json!({"schemas": [USER, ENTERPRISE], "userName": format!("{name}@contoso.com"), "externalId": format!("ext-{name}"), "active": active,
                "name": {"familyName": family, "givenName": name}, "emails": [{"type": "work", "value": format!("{name}@contoso.com"), "primary": true}, {"type": "home", "value": format!("{name}@home.example")}],
                ENTERPRISE: {"department": dept}});
            body["displayName"] = json!(format!("{name} {family}"));
            assert_eq!(scim.send_json(Method::POST, "/Users", body).await.0, 201);
        }
        for (filter, expected) in [
            ("userName eq \"ADA@contoso.com\"", 1),
            ("externalId eq \"ext-ada\"", 1),
            ("externalId eq \"EXT-ADA\"", 0),
            ("name.familyName sw \"tu\"", 1),
            ("userName ew \"@CONTOSO.COM\"", 3),
            ("displayName co \"ace\"", 2),
            ("active eq false", 1),
            ("not (active eq false)", 2),
            ("emails[type eq \"home\" and value co \"grace\"]", 1),
            ("emails.value eq \"alan@home.example\"", 1),
            ("emails pr", 3),
            ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"sre\" and active eq true", 1),
            ("userName eq \"ada@contoso.com\" or userName eq \"alan@contoso.com\" and active eq false", 1),
            ("(userName eq \"ada@contoso.com\" or userName eq \"alan@contoso.com\") and active eq true", 2),
            ("title pr", 0),
            ("meta.created gt \"2000-01-01T00:00:00Z\"", 3),
            ("userName ne \"ada@contoso.com\"", 2),
            ("userName gt \"alan@contoso.com\"", 1),
        ] {
            let (status, body) = scim.filter(filter).await;
            assert_eq!(status, 200, "{filter}: {body}");
            assert_eq!(body["totalResults"], expected, "{filter}");
        }
        for bad in ["userName eq", "userName xx \"a\"", "nosuch eq \"a\"", "emails[type eq \"work\"", "active gt true"] {
            let (status, body) = scim.filter(bad).await;
            assert_eq!(status, 400, "{bad}: {body}");
            assert_scim_error(&body, "400", Some("invalidFilter"));
        }
        let (_, page) = scim.get("/Users?startIndex=2&count=1&sortBy=userName&sortOrder=descending").await;
        assert_eq!((page["totalResults"].clone(), page["startIndex"].clone(), page["itemsPerPage"].clone()), (json!(3), json!(2), json!(1)));
        assert_eq!(page["Resources"][0]["userName"], "alan@contoso.com");
        let (_, page) = scim.get("/Users?count=0").await;
        assert_eq!(page["totalResults"], 3);
        assert_eq!(page["Resources"], json!([]));
        let (_, page) = scim.get("/Users?attributes=userName,name.familyName&sortBy=userName").await;
        let first = page["Resources"][0].as_object().unwrap();
        let mut keys: Vec<_> = first.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["id", "name", "schemas", "userName"]);
        assert_eq!(page["Resources"][0]["name"], json!({"familyName": "Lovelace"}));
        let (_, page) = scim.get("/Users?excludedAttributes=emails,name&sortBy=userName").await;
        assert!(page["Resources"][0].get("emails").is_none() && page["Resources"][0].get("userName").is_some());
        let (status, body) = scim.send_json(Method::POST, "/Users/.search", json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "active eq true", "count": 10})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["totalResults"], 2);
    }

    async fn versions_and_errors_follow_rfc_7644(app) {
        let scim = app.scim();
        let id = scim.create_user("ada@contoso.com", "o-1").await;
        let res = scim.req(Method::GET, &format!("/Users/{id}")).send().await.unwrap();
        assert_eq!(res.headers()["etag"], "W/\"1\"");
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/scim+json"));
        let stale = json!({"Operations": [{"op": "replace", "path": "title", "value": "x"}]});
        let (status, body) = scim.send(scim.req(Method::PATCH, &format!("/Users/{id}")).header("If-Match", "W/\"7\"").json(&stale)).await;
        assert_eq!(status, 412, "{body}");
        assert_scim_error(&body, "412", None);
        let (status, _) = scim.send(scim.req(Method::PATCH, &format!("/Users/{id}")).header("If-Match", "W/\"1\"").json(&stale)).await;
        assert_eq!(status, 200);

        let (status, body) = scim.send(scim.req(Method::POST, "/Users").header("Content-Type", "application/scim+json").body("{not json")).await;
        assert_eq!(status, 400);
        assert_scim_error(&body, "400", Some("invalidSyntax"));
        let (status, body) = scim.send_json(Method::POST, "/Users", json!({"schemas": [USER], "active": true})).await;
        assert_eq!(status, 400);
        assert_scim_error(&body, "400", Some("invalidValue"));
        let (status, body) = scim.send_json(Method::PATCH, &format!("/Users/{id}"), json!({"Operations": [{"op": "replace", "path": "id", "value": "x"}]})).await;
        assert_eq!(status, 400);
        assert_scim_error(&body, "400", Some("mutability"));
        let (status, body) = scim.send_json(Method::PATCH, &format!("/Users/{id}"), json!({"Operations": [{"op": "replace", "path": "emails[type eq", "value": "x"}]})).await;
        assert_eq!(status, 400);
        assert_scim_error(&body, "400", Some("invalidPath"));
        let (status, body) = scim.send_json(Method::PATCH, &format!("/Users/{id}"), json!({"Operations": []})).await;
        assert_eq!(status, 400);
        assert_scim_error(&body, "400", Some("invalidSyntax"));
        let (status, body) = scim.get("/Users/does-not-exist").await;
        assert_eq!(status, 404);
        assert_scim_error(&body, "404", None);
        let big = "x".repeat(rota::http::MAX_BODY_BYTES + 1);
        let (status, body) = scim.send_json(Method::POST, "/Users", json!({"userName": big})).await;
        assert_eq!(status, 413);
        assert_scim_error(&body, "413", None);
        let (status, body) = scim.get("/Nothing").await;
        assert_eq!(status, 404);
        assert_scim_error(&body, "404", None);
    }
    async fn entras_matching_never_gives_a_persons_app_roles_to_a_colleague_who_took_their_name(app) {
        let scim = app.scim();
        // Mallory, a plain user made through the REST API, puts Alice's UPN in her profile.
        let mallory = app.user("Mallory", "mallory@contoso.example").await;
        let token = app.personal_token(&mallory);
        let (status, body) = support::send(app.as_token(&token, Method::PUT, &format!("/api/v2/users/{mallory}")).json(&json!({"user": {"email": "alice@contoso.example"}}))).await;
        assert_eq!(status, 200, "{body}");
        // Entra provisions Alice, an admin by app role: it matches by userName, finds nobody,
        // and creates her; Mallory's account is not touched.
        let (status, alice) = scim.provision("alice@contoso.example", "Rota.Admin").await;
        assert_eq!(status, 201, "{alice}");
        assert_ne!(alice["id"], mallory.as_str());
        let (_, body) = app.get(&format!("/api/v2/users/{mallory}")).await;
        assert_eq!(body["user"]["role"], "user", "{body}");
        assert_eq!(body["user"]["user_name"], "mallory@contoso.example");
        let (_, body) = app.get(&format!("/api/v2/users/{}", alice["id"].as_str().unwrap())).await;
        assert_eq!(body["user"]["role"], "admin", "{body}");
        assert_eq!(body["user"]["user_name_source"], "entra_scim");
    }

    async fn a_name_nobody_vouched_for_is_never_matched_and_a_create_with_it_is_a_conflict(app) {
        let scim = app.scim();
        // From before the rule: Mallory moved her account's name to Alice's UPN herself.
        let now = rota::clock::stored(chrono::Utc::now());
        let squatted = rota::store::users::User {
            user_name_source: rota::domain::user::UserNameSource::Unverified,
            ..rota::store::users::User::new("alice@contoso.example", "Mallory".into(), rota::domain::user::ProvisionedBy::Api, now)
        };
        rota::store::users::insert(&mut app.db.get().unwrap(), &squatted).unwrap();
        let id = squatted.id.as_str();
        assert_eq!(scim.find_user("alice@contoso.example").await["totalResults"], 0, "not matched as Alice");
        assert_eq!(scim.get("/Users").await.1["totalResults"], 0, "not listed at all");
        assert_eq!(scim.get(&format!("/Users/{id}")).await.0, 200, "still readable by its id");
        // Entra then creates Alice: refused as a duplicate, not merged into Mallory's account.
        let (status, body) = scim.provision("alice@contoso.example", "Rota.Admin").await;
        assert_eq!(status, 409, "{body}");
        assert_scim_error(&body, "409", Some("uniqueness"));
        assert!(body["detail"].as_str().unwrap().contains("confirm"), "says how it gets resolved: {body}");
        let (_, body) = app.get(&format!("/api/v2/users/{id}")).await;
        assert_eq!(body["user"]["role"], "user", "no app role reached it: {body}");
        assert_eq!(app.get("/api/v2/users?total=true").await.1["total"], 1);
        // An owner who checked confirms the account is Alice's: Entra's next cycle matches it.
        let (status, body) = app.put(&format!("/api/v2/users/{id}"), json!({"user": {"user_name": "alice@contoso.example"}})).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = scim.provision("alice@contoso.example", "Rota.Admin").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["id"], id);
        let (_, body) = app.get(&format!("/api/v2/users/{id}")).await;
        assert_eq!(body["user"]["role"], "admin", "{body}");
        assert_eq!(body["user"]["user_name_source"], "entra_scim");
    }

    async fn an_external_id_belongs_to_one_live_user(app) {
        let scim = app.scim();
        let taken = "6a1f52ee-0a52-4d4e-9a3a-2b1e4f0c0d11";
        let first = scim.create_user("first@contoso.example", taken).await;
        let (status, body) = scim.send_json(Method::POST, "/Users", entra_user("second@contoso.example", taken)).await;
        assert_eq!(status, 409, "{body}");
        assert_scim_error(&body, "409", Some("uniqueness"));
        assert!(body["detail"].as_str().unwrap().contains("externalId"), "{body}");
        let second = scim.create_user("second@contoso.example", "6a1f52ee-0a52-4d4e-9a3a-2b1e4f0c0d12").await;
        let (status, body) = scim.send_json(Method::PATCH, &format!("/Users/{second}"), json!({
            "schemas": [PATCH], "Operations": [{"op": "replace", "path": "externalId", "value": taken}]
        })).await;
        assert_eq!(status, 409, "{body}");
        assert_scim_error(&body, "409", Some("uniqueness"));
        let (status, body) = scim.send_json(Method::PUT, &format!("/Users/{second}"), entra_user("second@contoso.example", taken)).await;
        assert_eq!(status, 409, "{body}");
        // Unique among live users: once the first is deleted, the id is free.
        assert_eq!(scim.send_json(Method::DELETE, &format!("/Users/{first}"), json!({})).await.0, 204);
        let (status, body) = scim.send_json(Method::PATCH, &format!("/Users/{second}"), json!({
            "schemas": [PATCH], "Operations": [{"op": "replace", "path": "externalId", "value": taken}]
        })).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["externalId"], taken);
    }


    async fn a_long_flat_or_filter_is_read_and_only_nesting_is_bounded(app) {
        use rota::domain::scim_filter::{MAX_DEPTH, MAX_TERMS};
        let scim = app.scim();
        for name in ["ada", "bob", "cy"] {
            scim.create_user(&format!("{name}@contoso.com"), &format!("o-{name}")).await;
        }
        // 200 terms, as a client that matches a batch of people sends them: the three who exist
        // are found, by userName or by their work e-mail (an EXISTS per term).
        let terms = |n: usize, term: &dyn Fn(usize) -> String| (0..n).map(term).collect::<Vec<_>>().join(" or ");
        let by_name = terms(200, &|i| match i {
            0 => "userName eq \"ada@contoso.com\"".into(),
            199 => "userName eq \"CY@contoso.com\"".into(),
            _ => format!("userName eq \"nobody-{i}@contoso.com\""),
        });
        let (status, body) = scim.filter(&by_name).await;
        assert_eq!((status, body["totalResults"].clone()), (200, json!(2)), "{body}");
        let by_mail = terms(200, &|i| format!("emails[type eq \"work\"].value eq \"{}@contoso.com\"", ["ada", "bob", "cy"].get(i % 70).copied().unwrap_or("none")));
        let (status, body) = scim.send_json(Method::POST, "/Users/.search", json!({"filter": by_mail})).await;
        assert_eq!((status, body["totalResults"].clone()), (200, json!(3)), "{body}");
        // As many comparisons as allowed, each with a bound value, on both backends.
        let most = terms(MAX_TERMS, &|i| format!("emails.value eq \"{i}@contoso.com\""));
        let (status, body) = scim.send_json(Method::POST, "/Users/.search", json!({"filter": most})).await;
        assert_eq!((status, body["totalResults"].clone()), (200, json!(0)), "{body}");
        let most = terms(MAX_TERMS / 2, &|i| format!("emails[type eq \"work\"].value eq \"{i}@contoso.com\""));
        let (status, body) = scim.send_json(Method::POST, "/Users/.search", json!({"filter": most})).await;
        assert_eq!((status, body["totalResults"].clone()), (200, json!(0)), "{body}");
        let (status, body) = scim.send_json(Method::POST, "/Groups/.search", json!({"filter": terms(MAX_TERMS, &|i| format!("displayName eq \"g{i}\""))})).await;
        assert_eq!(status, 200, "{body}");
        // One more is refused, saying why; so is nesting deeper than the limit.
        let (status, body) = scim.send_json(Method::POST, "/Users/.search", json!({"filter": terms(MAX_TERMS + 1, &|i| format!("userName eq \"u{i}\""))})).await;
        assert_eq!(status, 400, "{body}");
        assert_scim_error(&body, "400", Some("invalidFilter"));
        assert!(body["detail"].as_str().unwrap().contains("more than 500 comparisons"), "{body}");
        let nested = |n: usize| format!("{}userName pr{}", "(".repeat(n), ")".repeat(n));
        let (status, body) = scim.filter(&nested(MAX_DEPTH)).await;
        assert_eq!((status, body["totalResults"].clone()), (200, json!(3)), "{body}");
        let (status, body) = scim.filter(&nested(MAX_DEPTH + 1)).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("nests deeper"), "{body}");
    }

    async fn search_parameters_of_the_wrong_type_are_refused(app) {
        let scim = app.scim();
        scim.create_user("ada@contoso.com", "o-1").await;
        for path in ["/Users/.search", "/Groups/.search", "/.search"] {
            for filter in [json!(7), json!({"userName": "x"}), json!(["userName eq \"x\""]), json!(true)] {
                let (status, body) = scim.send_json(Method::POST, path, json!({"filter": filter})).await;
                assert_eq!(status, 400, "{path} {filter}: {body}");
                assert_scim_error(&body, "400", Some("invalidFilter"));
            }
            for (key, value) in [
                ("startIndex", json!("first")), ("startIndex", json!(1.5)), ("count", json!([10])),
                ("count", json!({})), ("attributes", json!(5)), ("attributes", json!(["userName", 5])),
                ("excludedAttributes", json!({"a": 1})), ("sortBy", json!(3)), ("sortOrder", json!(false)),
            ] {
                let (status, body) = scim.send_json(Method::POST, path, json!({key: value})).await;
                assert_eq!(status, 400, "{path} {key}={value}: {body}");
                assert_scim_error(&body, "400", Some("invalidValue"));
                assert!(body["detail"].as_str().unwrap().starts_with(key), "{body}");
            }
            let (status, body) = scim.send_json(Method::POST, path, json!(["filter"])).await;
            assert_eq!(status, 400, "{path}: {body}");
            assert_scim_error(&body, "400", Some("invalidSyntax"));
        }
        // Well-typed parameters (and null for absent) still work.
        let (status, body) = scim.send_json(Method::POST, "/Users/.search", json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName eq \"ada@contoso.com\"",
            "startIndex": 1, "count": "10", "attributes": ["userName"], "excludedAttributes": null, "sortBy": "userName", "sortOrder": "descending",
        })).await;
        assert_eq!((status, body["totalResults"].clone()), (200, json!(1)), "{body}");
        assert_eq!(body["Resources"][0]["userName"], "ada@contoso.com");
        assert!(body["Resources"][0].get("name").is_none());
        let (status, body) = scim.send_json(Method::POST, "/Users/.search", json!({"filter": null})).await;
        assert_eq!((status, body["totalResults"].clone()), (200, json!(1)), "{body}");
    }

    async fn entra_matches_a_user_on_the_work_email(app) {
        let scim = app.scim();
        let mut someone = entra_user("someone.upn@contoso.com", "o-1");
        someone["emails"] = json!([
            {"primary": true, "type": "work", "value": "someone@contoso.com"},
            {"type": "home", "value": "home@example.com"},
        ]);
        let (status, created) = scim.send_json(Method::POST, "/Users", someone).await;
        assert_eq!(status, 201, "{created}");
        let mut other = entra_user("other@contoso.com", "o-2");
        other["emails"] = json!([{"type": "home", "value": "someone@contoso.com"}]);
        assert_eq!(scim.send_json(Method::POST, "/Users", other).await.0, 201);
        // Entra's matching query on a work e-mail finds the user, and only them.
        for filter in [
            "emails[type eq \"work\"].value eq \"someone@contoso.com\"",
            "emails[type eq \"work\"].value eq \"SOMEONE@contoso.com\"",
            "emails[type eq \"WORK\"].value eq \"someone@contoso.com\" and active eq true",
            "emails[type eq \"work\"].value pr and emails[type eq \"home\"].value ew \"@example.com\"",
        ] {
            let (status, found) = scim.filter(filter).await;
            assert_eq!(status, 200, "{filter}: {found}");
            assert_eq!(found["totalResults"], 1, "{filter}: {found}");
            assert_eq!(found["Resources"][0]["id"], created["id"], "{filter}");
        }
        // No match: an empty list, which is how Entra decides to create the user.
        for filter in [
            "emails[type eq \"work\"].value eq \"nobody@contoso.com\"",
            "emails[type eq \"work\"].value eq \"home@example.com\"",
            "emails[type eq \"home\"].value eq \"nobody@contoso.com\"",
        ] {
            let (status, none) = scim.filter(filter).await;
            assert_eq!(status, 200, "{filter}: {none}");
            assert_eq!((none["totalResults"].clone(), none["Resources"].clone()), (json!(0), json!([])), "{filter}");
        }
        // The same through .search, and for phone numbers.
        let (_, found) = scim.send_json(Method::POST, "/Users/.search", json!({"filter": "phoneNumbers[type eq \"mobile\"].value eq \"+81 90 1234 5678\""})).await;
        assert_eq!(found["totalResults"], 2, "{found}");
        let (status, body) = scim.filter("emails[type eq \"work\"].nosuch eq \"x\"").await;
        assert_eq!(status, 400, "{body}");
        assert_scim_error(&body, "400", Some("invalidFilter"));
    }

    async fn app_roles_sent_as_json_text_decide_the_role(app) {
        let scim = app.scim();
        let role_of = |id: String| {
            let app = &app;
            async move { app.get(&format!("/api/v2/users/{id}")).await.1["user"]["role"].clone() }
        };
        let encoded = |value: &str| json!(format!(
            "{{\"id\":\"06b07648-ecfe-589f-9d2f-6325724a46ee\",\"value\":\"{value}\",\"displayName\":\"{value} role\"}}"
        ));
        let create = |user_name: &str, roles: Value| {
            let mut body = entra_user(user_name, user_name);
            body["roles"] = roles;
            body
        };
        // SingleAppRoleAssignment: POST with the role plain, PATCH with it as JSON text, in
        // both dialects and both path forms Entra uses.
        let (status, single) = scim.send_json(Method::POST, "/Users", create("single@contoso.com",
            json!([{"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "Rota.Admin"}]))).await;
        assert_eq!(status, 201, "{single}");
        assert_eq!(role_of(single["id"].as_str().unwrap().into()).await, "admin");
        for (n, ops) in [
            json!([{"op": "Add", "path": "roles", "value": [{"value": encoded("Rota.Admin")}]}]),
            json!([{"op": "add", "path": "roles", "value": [{"value": encoded("Rota.Admin")}]}]),
            json!([{"op": "Add", "path": "roles[primary eq \"True\"].value", "value": encoded("Rota.Admin")}]),
            json!([{"op": "replace", "path": "roles[primary eq \"True\"].value", "value": encoded("Rota.Admin")},
                   {"op": "replace", "path": "roles[primary eq \"True\"].type", "value": "WindowsAzureActiveDirectoryRole"}]),
        ].into_iter().enumerate() {
            let id = scim.create_user(&format!("single-{n}@contoso.com"), &format!("s-{n}")).await;
            assert_eq!(role_of(id.clone()).await, "user");
            let (status, body) = scim.send_json(Method::PATCH, &format!("/Users/{id}"), json!({"schemas": [PATCH], "Operations": ops})).await;
            assert_eq!(status, 200, "{ops}: {body}");
            assert_eq!(body["roles"].as_array().unwrap().len(), 1, "{ops}: {body}");
            assert_eq!(body["roles"][0]["value"], "Rota.Admin", "{ops}: {body}");
            assert_eq!(body["roles"][0]["display"], "Rota.Admin role", "{ops}: {body}");
            assert_eq!(role_of(id.clone()).await, "admin", "{ops}");
            // Sent again (Entra re-sends each cycle), nothing changes.
            let (_, again) = scim.send_json(Method::PATCH, &format!("/Users/{id}"), json!({"schemas": [PATCH], "Operations": ops})).await;
            assert_eq!(again["meta"]["version"], body["meta"]["version"], "{ops}");
        }
        // AppRoleAssignmentsComplex: several roles, JSON text in the POST and in PATCH Add,
        // `displayName` for `display`; AssertiveAppRoleAssignmentsComplex replaces them.
        let (status, complex) = scim.send_json(Method::POST, "/Users", create("complex@contoso.com", json!([
            {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "displayName": "Responder", "value": encoded("Rota.Responder")},
            {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "displayName": "Admin", "value": encoded("Rota.Admin")},
        ]))).await;
        assert_eq!(status, 201, "{complex}");
        let id = complex["id"].as_str().unwrap().to_string();
        assert_eq!(complex["roles"], json!([
            {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "Responder", "value": "Rota.Responder"},
            {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "Admin", "value": "Rota.Admin"},
        ]));
        assert_eq!(role_of(id.clone()).await, "admin", "the first matching rule (Rota.Admin) decides");
        let (status, body) = scim.send_json(Method::PATCH, &format!("/Users/{id}"), json!({"schemas": [PATCH], "Operations": [
            {"op": "replace", "path": "roles", "value": [{"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "Responder", "value": "Rota.Responder"}]},
        ]})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(role_of(id.clone()).await, "user");
        let (status, body) = scim.send_json(Method::PATCH, &format!("/Users/{id}"), json!({"schemas": [PATCH], "Operations": [
            {"op": "Add", "path": "roles", "value": [{"value": encoded("Rota.Admin")}, {"value": encoded("Rota.Responder")}]},
        ]})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["roles"].as_array().unwrap().len(), 2, "{body}");
        assert_eq!(role_of(id.clone()).await, "admin");
        // aadOptscim062020's path-less replace, and plain values next to encoded ones.
        let id = scim.create_user("pathless@contoso.com", "p-1").await;
        let (status, body) = scim.send_json(Method::PATCH, &format!("/Users/{id}"), json!({"schemas": [PATCH], "Operations": [
            {"op": "replace", "value": {"roles": [{"value": encoded("Rota.Admin")}, {"value": "Rota.Admin"}, {"value": "not {json"}]}},
        ]})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["roles"], json!([{"value": "Rota.Admin", "display": "Rota.Admin role"}, {"value": "not {json"}]));
        assert_eq!(role_of(id).await, "admin");
    }

    async fn enterprise_attributes_stay_in_their_schema_after_entra_sequences(app) {
        let scim = app.scim();
        let id = scim.create_user("ada@contoso.com", "o-1").await;
        let patch = |ops: Value| {
            let (scim, path) = (&scim, format!("/Users/{id}"));
            async move { scim.send_json(Method::PATCH, &path, json!({"schemas": [PATCH], "Operations": ops})).await }
        };
        // Each of Entra's ways to set an enterprise attribute lands under the extension (the
        // client validates every answer against /Schemas, so a stray top-level attribute fails).
        for (ops, department) in [
            (json!([{"op": "Add", "path": "department", "value": "Ops"}]), "Ops"),
            (json!([{"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Ops 2"}]), "Ops 2"),
            (json!([{"op": "replace", "value": {"department": "Ops 3", "employeeNumber": "E-7", "name.givenName": "Ada", "favouriteColour": "blue"}}]), "Ops 3"),
            (json!([{"op": "replace", "value": {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Ops 4", "manager": "m-1"}}]), "Ops 4"),
            (json!([{"op": "add", "value": {ENTERPRISE: {"department": "Ops 5", "costCenter": "CC"}}}]), "Ops 5"),
        ] {
            let (status, body) = patch(ops.clone()).await;
            assert_eq!(status, 200, "{ops}: {body}");
            assert_eq!(body[ENTERPRISE]["department"], department, "{ops}: {body}");
            assert!(body.get("department").is_none() && body.get("favouriteColour").is_none(), "{ops}: {body}");
            let filter = format!("{ENTERPRISE}:department eq \"{department}\"");
            assert_eq!(scim.filter(&filter).await.1["totalResults"], 1, "the column follows: {ops}");
        }
        let (_, body) = scim.get(&format!("/Users/{id}")).await;
        assert_eq!(body[ENTERPRISE], json!({"department": "Ops 5", "employeeNumber": "E-7", "costCenter": "CC", "manager": {"value": "m-1"}}));
        assert_eq!(body["schemas"], json!([USER, ENTERPRISE]));
        // Removing an unqualified enterprise attribute removes it from the extension.
        let (_, body) = patch(json!([{"op": "remove", "path": "costCenter"}])).await;
        assert!(body[ENTERPRISE].get("costCenter").is_none(), "{body}");
        // A POST or PUT body: unqualified enterprise attributes move in, unknown ones are
        // dropped, names take the schema's case, Entra's string booleans become booleans.
        let (status, body) = scim.send_json(Method::POST, "/Users", json!({
            "schemas": [USER], "USERNAME": "bob@contoso.com", "Active": "True", "division": "North", "ims": [{"value": "bob"}],
            "urn:x:custom:2.0:User:shoeSize": "44", "emails": [{"value": "bob@contoso.com", "primary": "True", "kind": "x"}],
        })).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["userName"], "bob@contoso.com");
        assert_eq!(body["active"], true);
        assert_eq!(body[ENTERPRISE], json!({"division": "North"}));
        assert_eq!(body["emails"], json!([{"value": "bob@contoso.com", "primary": true}]));
        assert!(body.get("ims").is_none() && body.get("urn:x:custom:2.0:User:shoeSize").is_none());
        // A document stored by an older version, with enterprise attributes at the top level
        // and attributes of no schema, is shown fitting the schemas too.
        {
            let mut conn = app.db.get().unwrap();
            let mut user = rota::store::users::find(&mut conn, &rota::domain::ids::UserId(id.clone())).unwrap();
            let stale = json!({
                "userName": "ada@contoso.com", "department": "Stale", "costCenter": "CC-9", "favouriteColour": "blue",
                "active": "True", "title": "t\u{1b}[31m", ENTERPRISE: {"department": "Ops 5"},
            });
            user.scim_document = Some(rota::store::column::Json(rota::domain::scim_schema::ScimDocument(stale.as_object().unwrap().clone())));
            user.version += 1;
            rota::store::users::update(&mut conn, &user).unwrap();
        }
        let (_, listed) = scim.get("/Users?sortBy=userName").await;
        let ada = &listed["Resources"][0];
        assert_eq!(ada[ENTERPRISE], json!({"department": "Ops 5", "costCenter": "CC-9"}), "{ada}");
        assert_eq!(ada["active"], true);
        assert!(ada.get("title").is_none() && ada.get("favouriteColour").is_none(), "{ada}");
    }

    async fn names_with_control_characters_or_bidi_overrides_are_refused_naming_the_attribute(app) {
        let scim = app.scim();
        let post = |body: Value| scim.send_json(Method::POST, "/Users", body);
        for (body, field) in [
            (json!({"userName": "ada\u{7}@contoso.com"}), "userName"),
            (json!({"userName": "ada\u{202E}moc.osotnoc@ada"}), "userName"),
            (json!({"userName": "a@contoso.com", "displayName": "Ada \u{2066}Admin\u{2069}"}), "displayName"),
            (json!({"userName": "a@contoso.com", "name": {"givenName": "\u{202D}Ada"}}), "name.givenName"),
            (json!({"userName": "a@contoso.com", "nickName": "x\u{202A}"}), "nickName"),
            (json!({"userName": "a@contoso.com", "timezone": "Asia/Tokyo\n2026-01-01 ERROR forged line"}), "timezone"),
            (json!({"userName": "a@contoso.com", "title": "\u{1b}[31mSRE"}), "title"),
            (json!({"userName": "a@contoso.com", "emails": [{"value": "a@contoso.com\r\nBcc: x"}]}), "emails.value"),
            (json!({"userName": "a@contoso.com", ENTERPRISE: {"department": "Ops\u{8}"}}), "department"),
            (json!({"userName": "a@contoso.com", "addresses": [{"formatted": "1 Main St\u{1b}[2J"}]}), "addresses.formatted"),
            (json!({"userName": &"x".repeat(120)}), "userName"),
        ] {
            let (status, res) = post(body.clone()).await;
            assert_eq!(status, 400, "{body}: {res}");
            assert_scim_error(&res, "400", Some("invalidValue"));
            let detail = res["detail"].as_str().unwrap();
            assert!(detail.starts_with(&format!("{field} ")), "{body}: {detail}");
        }
        // Through PATCH too, and for groups.
        let id = scim.create_user("ada@contoso.com", "o-1").await;
        let (status, res) = scim.send_json(Method::PATCH, &format!("/Users/{id}"), json!({"Operations": [{"op": "replace", "path": "userName", "value": "ada\u{1b}@contoso.com"}]})).await;
        assert_eq!(status, 400, "{res}");
        assert!(res["detail"].as_str().unwrap().starts_with("userName "), "{res}");
        let (status, res) = scim.send_json(Method::POST, "/Groups", json!({"displayName": "SRE \u{202E}nimda"})).await;
        assert_eq!(status, 400, "{res}");
        assert!(res["detail"].as_str().unwrap().starts_with("displayName "), "{res}");
        // A mailing address may have several lines; right-to-left names are names.
        let (status, res) = post(json!({"userName": "sara@contoso.com", "displayName": "שרה כהן", "addresses": [{"type": "work", "formatted": "1 Main St\nSpringfield"}]})).await;
        assert_eq!(status, 201, "{res}");
        assert_eq!(res["addresses"][0]["formatted"], "1 Main St\nSpringfield");
    }
}

/// Arbitrary JSON bodies, filters and paths: every answer is a SCIM response below 500.
mod fuzz {
    use super::*;

    on_both_backends! {
        async fn arbitrary_input_never_fails_the_server(app) {
            use proptest::prelude::*;
            use proptest::strategy::ValueTree;
            use proptest::test_runner::TestRunner;

            let scim = app.scim();
            let user = scim.create_user("fuzz@contoso.com", "o-fuzz").await;
            let (_, group) = scim
                .send_json(Method::POST, "/Groups", json!({"displayName": "Fuzz"}))
                .await;
            let group = group["id"].as_str().unwrap().to_string();

            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                "(True|False|add|Replace|remove|members|userName|emails\\[type eq \"work\"\\]\\.value|active|[ -~]{0,12})".prop_map(Value::from),
            ];
            let json_value = leaf.prop_recursive(4, 32, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                    prop::collection::btree_map("(op|path|value|Operations|userName|displayName|members|emails|name|active|schemas|[a-z]{1,6})", inner, 0..5)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            });
            let text = "[ -~]{0,60}";
            let mut runner = TestRunner::deterministic();
            for round in 0..150 {
                let body = json_value.new_tree(&mut runner).unwrap().current();
                let patch = json!({"Operations": [body.clone()]});
                let filter = text.new_tree(&mut runner).unwrap().current();
                let cases = [
                    (Method::POST, "/Users".to_string(), body.clone()),
                    (Method::POST, "/Groups".to_string(), body.clone()),
                    (Method::PUT, format!("/Users/{user}"), body.clone()),
                    (Method::PATCH, format!("/Users/{user}"), patch.clone()),
                    (Method::PATCH, format!("/Groups/{group}"), patch),
                    (
                        Method::POST,
                        "/.search".to_string(),
                        json!({"filter": filter.clone()}),
                    ),
                ];
                for (method, path, body) in cases {
                    let (status, res) = scim.send_json(method.clone(), &path, body.clone()).await;
                    assert!(
                        status < 500,
                        "round {round}: {method} {path} {body} -> {status} {res}"
                    );
                    if status >= 400 {
                        assert_eq!(res["schemas"][0], ERROR, "{method} {path} {body} -> {res}");
                    }
                }
                let (status, res) = scim
                    .get(&format!(
                        "/Users?filter={}&sortBy={}",
                        urlencode(&filter),
                        urlencode(&filter)
                    ))
                    .await;
                assert!(status < 500, "filter {filter:?} -> {status} {res}");
            }
        }
    }
}
