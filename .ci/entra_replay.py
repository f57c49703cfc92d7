"""Replays what Microsoft Entra ID's provisioning service sends over a few cycles, so that
scim2-tester then runs against a used database rather than a clean one.

Usage: python entra_replay.py BASE_URL SCIM_TOKEN

The requests follow Microsoft Learn's SCIM pages (the provisioning tutorial, "Known issues ...
SCIM 2.0 protocol compliance" and "Customize application attributes"): Test Connection, match
then create (with the enterprise extension and app roles), updates in the default dialect and in
aadOptscim062020 (including enterprise attributes without their URN and app roles sent as JSON
text), group creation and membership changes in both dialects, matching on the work e-mail, and
deactivation. Every answer's status is checked; the script exits 1 on the first surprise.
"""

import json
import sys
import urllib.error
import urllib.parse
import urllib.request

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Replay:
    def __init__(self, base_url, token):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.requests = 0

    def call(self, method, path, body=None, expect=200):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/scim+json")
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                status, text = res.status, res.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        self.requests += 1
        if status != expect:
            raise SystemExit(f"{method} {path} answered {status}, expected {expect}: {text}")
        return json.loads(text) if text else None

    def find(self, filter_text):
        query = urllib.parse.urlencode({"filter": filter_text})
        return self.call("GET", f"/Users?{query}")

    def patch(self, kind, id, operations):
        return self.call("PATCH", f"/{kind}/{id}", {"schemas": [PATCH], "Operations": operations})


def role_json(value):
    """An app role as the SingleAppRoleAssignment / AppRoleAssignmentsComplex mappings send it."""
    return json.dumps({"id": "06b07648-ecfe-589f-9d2f-6325724a46ee", "value": value, "displayName": value})


def main():
    r = Replay(sys.argv[1], sys.argv[2])

    # Test Connection.
    assert r.find('userName eq "non-existent-user-5b8a6f"')["totalResults"] == 0

    users = {}
    for n in range(6):
        upn = f"replay.user{n}@contoso.com"
        assert r.find(f'userName eq "{upn}"')["totalResults"] == 0
        body = {
            "schemas": [USER, ENTERPRISE],
            "externalId": f"8f0c{n:04d}-4e2a-4f70-9d51-0c1d2e3f4a5b",
            "userName": upn,
            "active": True,
            "displayName": f"Replay User {n}",
            "emails": [{"primary": True, "type": "work", "value": upn}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": f"Replay User {n}", "familyName": "User", "givenName": "Replay"},
            "phoneNumbers": [{"type": "mobile", "value": f"+81 90 0000 000{n}"}],
            "roles": [],
            ENTERPRISE: {"department": "SRE", "employeeNumber": f"E-{n}"},
        }
        if n == 1:  # SingleAppRoleAssignment: the POST carries the role plainly.
            body["roles"] = [{"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Rota.Admin"}]
        if n == 2:  # AppRoleAssignmentsComplex: several roles, `displayName` for `display`.
            body["roles"] = [
                {"primary": False, "type": "WindowsAzureActiveDirectoryRole", "displayName": "Responder", "value": "Rota.Responder"},
                {"primary": False, "type": "WindowsAzureActiveDirectoryRole", "displayName": "Admin", "value": role_json("Rota.Admin")},
            ]
        users[n] = r.call("POST", "/Users", body, expect=201)["id"]

    # Updates, default dialect (capitalised ops, booleans as strings, one op per attribute).
    for n in range(3):
        r.patch("Users", users[n], [
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": f"replay.user{n}.work@contoso.com"},
            {"op": "Replace", "path": "name.familyName", "value": f"User{n}"},
            {"op": "Add", "path": "title", "value": "Site Reliability Engineer"},
            {"op": "Replace", "path": f"{ENTERPRISE}:employeeNumber", "value": f"EMP-{n}"},
            {"op": "Add", "path": "department", "value": "Operations"},
            {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": users[5]},
            {"op": "Add", "path": 'roles[primary eq "True"].value', "value": role_json("Rota.Responder")},
            {"op": "Add", "path": 'addresses[type eq "work"].streetAddress', "value": "1 Main St"},
        ])
        r.patch("Users", users[n], [{"op": "Add", "path": "roles", "value": [{"value": role_json("Rota.Admin")}]}])

    # Updates, aadOptscim062020 (path-less replace with dotted keys, enterprise keys with and
    # without their URN, real booleans), and the Assertive mapping's replace of all roles.
    for n in range(3, 6):
        r.patch("Users", users[n], [
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": f"replay.user{n}.work@contoso.com"},
            {"op": "replace", "value": {
                "displayName": f"Replayed User {n}",
                "name.givenName": "Replayed",
                "name.familyName": f"User{n}",
                f"{ENTERPRISE}:employeeNumber": f"EMP-{n}",
                "costCenter": "CC-42",
                "division": "Platform",
                "active": True,
            }},
            {"op": "replace", "path": "roles", "value": [
                {"primary": False, "type": "WindowsAzureActiveDirectoryRole", "display": "Responder", "value": "Rota.Responder"},
            ]},
        ])

    # Matching on the work e-mail, as Entra does when its matching attribute is an e-mail.
    found = r.find('emails[type eq "work"].value eq "replay.user4.work@contoso.com"')
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == users[4], found
    assert r.find('emails[type eq "work"].value eq "nobody@contoso.com"')["totalResults"] == 0

    # Groups and their members, in both dialects.
    group = r.call("POST", "/Groups", {
        "schemas": [GROUP], "externalId": "5d1b2c7e-4a8f-4a51-9a4e-0d6a8f6d1e21",
        "displayName": "Replay SRE", "meta": {"resourceType": "Group"},
    }, expect=201)["id"]
    r.patch("Groups", group, [{"op": "Add", "path": "members", "value": [{"value": users[n]} for n in range(5)]}])
    r.patch("Groups", group, [{"op": "Remove", "path": "members", "value": [{"value": users[0]}]}])
    r.patch("Groups", group, [
        {"op": "remove", "path": f'members[value eq "{users[1]}"]'},
        {"op": "replace", "value": {"displayName": "Replay SRE On Call"}},
    ])
    query = urllib.parse.urlencode({"filter": 'displayName eq "Replay SRE On Call"', "excludedAttributes": "members"})
    assert r.call("GET", f"/Groups?{query}")["totalResults"] == 1

    # Deactivation in both dialects; a user left out of scope is deleted.
    r.patch("Users", users[3], [{"op": "Replace", "path": "active", "value": "False"}])
    r.patch("Users", users[4], [{"op": "replace", "path": "active", "value": False}])
    r.call("DELETE", f"/Users/{users[0]}", expect=204)

    # What a reader of the collection gets back now.
    r.call("GET", "/Users?startIndex=1&count=100")
    r.call("GET", "/Groups")
    print(f"entra replay: {r.requests} requests answered as Entra expects")
    return 0


if __name__ == "__main__":
    sys.exit(main())
