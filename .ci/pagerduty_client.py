"""Drives Rota's REST API with PagerDuty's own Python client (PyPI pagerduty, RestApiV2Client).

Usage: python pagerduty_client.py BASE_URL API_TOKEN [--through a|b|c|d]

BASE_URL is the REST API root, e.g. http://127.0.0.1:8080/api/v2; API_TOKEN an owner API token
(`rota token create --kind api --role owner`; owner so that a capped full licence can be
raised). The steps, each printing one summary line:

  a. 120 users made with rpost('users'), then read back with iter_all('users') (classic
     offset/limit/more pagination: pages of 100, of 25, and of 250 asked for, which must come
     as 100), get_total and a `query` filter: every user made is seen exactly once, in the
     number of pages `more` implies, and every one holds a full seat.
  b. A daily rotation of three of them (Asia/Tokyo, rotation_virtual_start a day before the
     layer's start) made with rpost('schedules'), listed once by iter_all('schedules'), and
     read with rget('schedules/ID', since, until): final_schedule.rendered_schedule_entries
     must be the turns computed here.
  c. An escalation policy (level 1: that schedule, level 2: a fourth person) and
     iter_all('oncalls', escalation_policy_ids[]): level 1 is the schedule's turns, level 2
     the person with start and end null.
  d. Overrides: a batch of two (201, one {"status": 201, "override": ...} per item), a batch
     with one ending before it starts (its item has status 400 and errors), the list
     (GET /schedules/ID/overrides), the final schedule and /oncalls with them, and DELETE of a
     future one (204), after which it is gone from all three.

The database need not be fresh: .ci/pagerduty-client also runs this script on a database that
Entra's SCIM provisioning wrote to first (.ci/entra_replay.py: its users, some deactivated or
waiting for a seat, a group), and then a second time on that same database. So every name and
e-mail made here carries a tag of this run (`PD Client 3fa9c1 007`), and the checks look for
this run's own objects among whatever else is there: iter_all must yield each of its users
exactly once (and every user it yields, whoever made it, in PagerDuty's shape), not an exact
count; its schedule must be listed once among the others. Step a lifts a full-seat cap that
would leave its users waiting (the replay's database has one).

--through stops after the given step (b to d need a's users; c and d need b's schedule).
Exits 1 with one `FAILED in step ...` line, saying what differed, on the first mismatch.
"""

import argparse
import itertools
import math
import secrets
import sys
from collections import Counter
from datetime import datetime, time, timedelta, timezone

import pagerduty

USERS = 120
# PagerDuty's user roles (Rota uses the same names).
ROLES = {
    "admin", "limited_user", "observer", "owner", "read_only_user", "restricted_access",
    "read_only_limited_user", "user", "license_owner",
}
# Japan has kept +09:00 without daylight saving time since 1951, so a fixed offset is exactly
# Asia/Tokyo for these dates and the expectations need no time zone database.
TOKYO = timezone(timedelta(hours=9), "JST")
DAY = timedelta(days=1)
TURN_SECONDS = 86400
DAYS = 6  # turns checked


class Mismatch(Exception):
    """Rota answered something other than what PagerDuty's API (and this script) expect."""


class LocalRestApiV2Client(pagerduty.RestApiV2Client):
    """RestApiV2Client whose base URL may be plain http (Rota on 127.0.0.1 in CI).

    pagerduty 7.2.0's `url` setter (ApiClient.url) refuses anything but https://; this only
    lifts that check. Everything else (auth header, entity wrapping, pagination) is the
    stock client's.
    """

    @property
    def url(self) -> str:
        return self._url

    @url.setter
    def url(self, new_base_url: str):
        self._url = new_base_url


def client_for(base_url: str, token: str) -> pagerduty.RestApiV2Client:
    cls = pagerduty.RestApiV2Client if base_url.startswith("https://") else LocalRestApiV2Client
    # trust_env=False: no HTTP(S)_PROXY from the CI environment between us and 127.0.0.1.
    client = cls(token, base_url=base_url.rstrip("/"), trust_env=False)
    client.timeout = 30
    return client


# --- times -------------------------------------------------------------------------------


def body_time(t: datetime) -> str:
    """A time for a JSON body, with Tokyo's offset: 2026-01-07T09:00:00+09:00."""
    return t.astimezone(TOKYO).isoformat()


def query_time(t: datetime) -> str:
    """A time for a query string, in UTC with Z (no '+' to be read as a space)."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value, what: str) -> datetime:
    if not isinstance(value, str):
        raise Mismatch(f"{what} is {value!r}, not an ISO 8601 time")
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise Mismatch(f"{what} is {value!r}, not an ISO 8601 time") from None
    if t.tzinfo is None:
        raise Mismatch(f"{what} is {value!r}, a time without an offset")
    return t


def show(t: datetime) -> str:
    return t.astimezone(TOKYO).strftime("%m-%d %H:%M")


def show_entries(entries, names) -> str:
    if not entries:
        return "    (none)"
    return "\n".join(f"    {show(s)} - {show(e)} {names.get(u, u)}" for u, s, e in entries)


# --- helpers on answers ----------------------------------------------------------------------


def field(obj, key: str, what: str):
    if not isinstance(obj, dict):
        raise Mismatch(f"{what} is {type(obj).__name__} {obj!r:.200}, not an object")
    if key not in obj:
        raise Mismatch(f"{what} has no '{key}' (keys: {', '.join(obj)})")
    return obj[key]


def ref_id(obj, key: str, what: str) -> str:
    ref = field(obj, key, what)
    return field(ref, "id", f"{what}.{key}")


def check_listed_user(user, what: str) -> str:
    """A user as GET /users lists it, whoever made it (this run, an earlier one, Entra over
    SCIM): the fields PagerDuty's clients read, with their types. Returns its id."""
    uid = field(user, "id", what)
    if not isinstance(uid, str) or not uid:
        raise Mismatch(f"{what} has the id {uid!r}")
    what = f"{what} ({uid})"
    if field(user, "type", what) != "user":
        raise Mismatch(f"{what} has type {user['type']!r}, not 'user'")
    for key in ("name", "summary", "self", "html_url", "time_zone"):
        value = field(user, key, what)
        if not isinstance(value, str) or not value:
            raise Mismatch(f"{what}: {key} is {value!r}, not a non-empty string")
    email = field(user, "email", what)
    if email is not None and (not isinstance(email, str) or "@" not in email):
        raise Mismatch(f"{what}: email is {email!r}, not an address")
    if field(user, "role", what) not in ROLES:
        raise Mismatch(f"{what}: role is {user['role']!r}, not one of PagerDuty's roles")
    licence = field(user, "license", what)  # null while waiting for a seat
    if licence is not None and field(licence, "id", f"{what}.license") not in ("full", "stakeholder"):
        raise Mismatch(f"{what}: license is {licence!r}, not a full or stakeholder seat")
    for key in ("teams", "contact_methods"):
        refs = field(user, key, what)
        if not isinstance(refs, list) or not all(isinstance(r, dict) and r.get("id") for r in refs):
            raise Mismatch(f"{what}: {key} is {refs!r:.200}, not a list of references")
    return uid


def entries_of(raw, what: str):
    """[(user id, start, end)] of rendered entries or overrides."""
    if not isinstance(raw, list):
        raise Mismatch(f"{what} is {type(raw).__name__}, not a list")
    return [
        (
            ref_id(e, "user", f"{what}[{i}]"),
            parse_time(field(e, "start", f"{what}[{i}]"), f"{what}[{i}].start"),
            parse_time(field(e, "end", f"{what}[{i}]"), f"{what}[{i}].end"),
        )
        for i, e in enumerate(raw)
    ]


def same_entries(got, expected) -> bool:
    # datetimes compare as instants whatever offset Rota renders them in.
    return [tuple(g) for g in got] == [tuple(e) for e in expected]


# --- the independent computation --------------------------------------------------------------


def layer_turns(users, start, virtual_start, turn, until):
    """The layer's turns from its start to `until`: turn k runs from V + k*T, belongs to
    users[k mod n]. Tokyo has no DST, so local wall-clock turns are plain UTC arithmetic."""
    turns = []
    k = math.floor((start - virtual_start) / turn)
    while virtual_start + k * turn < until:
        s = max(start, virtual_start + k * turn)
        e = virtual_start + (k + 1) * turn
        if e > s:
            turns.append((users[k % len(users)], s, e))
        k += 1
    return turns


def final_schedule(turns, overrides, since, until):
    """PagerDuty's final schedule over [since, until): an override beats the layer (of
    overlapping overrides the one made last), consecutive entries of one person merge, gaps
    are left out, entries are cut at the window."""
    points = {since, until}
    for _, s, e in turns + overrides:
        points.update(p for p in (s, e) if since < p < until)
    points = sorted(points)
    out = []
    for a, b in itertools.pairwise(points):
        who = None
        for u, s, e in overrides:  # in the order made: the last one covering wins
            if s <= a and b <= e:
                who = u
        if who is None:
            for u, s, e in turns:
                if s <= a and b <= e:
                    who = u
        if who is None:
            continue
        if out and out[-1][0] == who and out[-1][2] == a:
            out[-1] = (who, out[-1][1], b)
        else:
            out.append((who, a, b))
    return out


# --- the steps --------------------------------------------------------------------------------


class Run:
    def __init__(self, client):
        self.pd = client
        # In every name and e-mail made: a second run on the same database (or any other
        # client's data) never collides with this one's.
        self.tag = secrets.token_hex(3)
        self.users = []  # ids, in the order made
        self.names = {}  # id -> name, for messages
        self.schedule_id = None
        self.ep_id = None
        self.window = None
        self.turns = None

    def calls(self, endpoint: str) -> int:
        return self.pd.api_call_counts.get(endpoint, 0)

    def make_sure_of_full_seats(self):
        """A fresh database has unlimited seats; a capped full licence is raised (owner token)."""
        licences = self.pd.rget("licenses")
        full = next((lic for lic in licences if lic.get("id") == "full"), None)
        if full is None:
            raise Mismatch(f"GET /licenses has no licence with id 'full': {licences!r:.300}")
        free = full.get("allocations_available")
        if free is not None and free < USERS + 10:
            print(f"   the full licence has {free} seats free; lifting its cap (PUT /licenses/full)")
            self.pd.jput("licenses/full", json={"license": {"cap": None}})

    def step_a_users(self):
        self.make_sure_of_full_seats()
        for i in range(USERS):
            # limited_user is PagerDuty's "Responder", user its "Manager": both take a full seat.
            role = "limited_user" if i % 10 == 9 else "user"
            name = f"PD Client {self.tag} {i:03d}"
            email = f"pd-client-{self.tag}-{i:03d}@example.com"
            user = self.pd.rpost(
                "users",
                json={
                    "user": {
                        "type": "user",
                        "name": name,
                        "email": email,
                        "time_zone": "Asia/Tokyo",
                        "role": role,
                    }
                },
            )
            what = f"POST /users ({name})"
            uid = field(user, "id", what)
            if not isinstance(uid, str) or not uid:
                raise Mismatch(f"{what} answered the id {uid!r}")
            if uid in self.names:
                raise Mismatch(f"{what} answered the id {uid} of an earlier user")
            for key, want in (("name", name), ("email", email), ("role", role), ("type", "user")):
                if field(user, key, what) != want:
                    raise Mismatch(f"{what}: {key} is {user[key]!r}, sent {want!r}")
            licence = field(user, "license", what)
            if not isinstance(licence, dict) or licence.get("id") != "full":
                raise Mismatch(
                    f"{what}: license is {licence!r}, not the full seat a {role} needs to be "
                    "on call (seat caps too low? see GET /licenses, ROTA_SEATS_FULL)"
                )
            self.users.append(uid)
            self.names[uid] = name

        made = set(self.users)
        summary = []
        # The client's default page (100), a small one, and one above PagerDuty's maximum of
        # 100, which the server lowers to 100 (the client then asks for what it got).
        for page_size in (None, 25, 250):
            before = self.calls("GET /users")
            seen = Counter(
                check_listed_user(u, "GET /users users[]")
                for u in self.pd.iter_all("users", page_size=page_size)
            )
            pages = self.calls("GET /users") - before
            size = min(page_size or self.pd.default_page_size, 100)
            how = f"iter_all('users', page_size={page_size})"
            missing = made - set(seen)
            if missing:
                raise Mismatch(
                    f"{how} never yielded {len(missing)} of the {USERS} users made, e.g. "
                    + ", ".join(sorted(missing)[:5])
                )
            twice = sorted(uid for uid, n in seen.items() if n > 1)
            if twice:
                raise Mismatch(f"{how} yielded {len(twice)} users more than once, e.g. {twice[:5]}")
            want_pages = max(1, math.ceil(len(seen) / size))
            if pages != want_pages:
                raise Mismatch(
                    f"{how} took {pages} requests for {len(seen)} users, not {want_pages} pages of "
                    f"{size}: `more` must be true exactly when a later page has users, and `limit` "
                    "is at most 100"
                )
            summary.append(f"{len(seen)} users in {pages} pages of {size}")

        total = self.pd.get_total("users")
        if total != len(seen):
            raise Mismatch(f"get_total('users') is {total}, iter_all yielded {len(seen)}")
        query = f"PD Client {self.tag}"
        found = [
            field(u, "id", "GET /users users[]") for u in self.pd.iter_all("users", params={"query": query})
        ]
        if sorted(found) != sorted(made):
            raise Mismatch(
                f"iter_all('users', query={query!r}) yielded {len(found)} users "
                f"({len(set(found) & made)} of those made), not exactly the {USERS} made"
            )
        among = f" among {len(seen) - USERS} others'" if len(seen) > USERS else ""
        print(
            f"a. users: {USERS} made with rpost, each with a full seat; iter_all saw each once{among} "
            f"({'; '.join(summary)}); get_total {total}; query filter {len(found)}"
        )

    def render(self, overrides=()):
        since, until = self.window
        return final_schedule(self.turns, list(overrides), since, until)

    def read_final_schedule(self):
        since, until = self.window
        path = f"schedules/{self.schedule_id}"
        schedule = self.pd.rget(path, params={"since": query_time(since), "until": query_time(until)})
        final = field(schedule, "final_schedule", f"GET /{path}")
        raw = field(final, "rendered_schedule_entries", f"GET /{path} final_schedule")
        return entries_of(raw, f"GET /{path} final_schedule.rendered_schedule_entries")

    def check_final_schedule(self, expected, when: str):
        got = self.read_final_schedule()
        if not same_entries(got, expected):
            raise Mismatch(
                f"final_schedule {when} (Asia/Tokyo times) is\n{show_entries(got, self.names)}\n"
                f"  expected\n{show_entries(expected, self.names)}"
            )

    def step_b_schedule(self):
        rotation = self.users[:3]
        today = datetime.now(TOKYO).date()
        # Two days ahead: all in the future, so nothing is refused as a change of the past.
        start = datetime.combine(today + timedelta(days=2), time(9, 0), TOKYO)
        virtual_start = start - DAY  # so the first turn at `start` is the second person's
        turn = timedelta(seconds=TURN_SECONDS)
        # The window starts a day before the layer and ends at a hand-off, so entries do not
        # depend on whether an answer cuts them at the window or gives whole turns.
        self.window = (start - DAY, start + DAYS * DAY)
        self.turns = layer_turns(rotation, start, virtual_start, turn, self.window[1])

        name = f"PD Client {self.tag} rotation"
        schedule = self.pd.rpost(
            "schedules",
            json={
                "schedule": {
                    "name": name,
                    "type": "schedule",
                    "time_zone": "Asia/Tokyo",
                    "description": "Daily hand-off at 09:00 Tokyo, made by .ci/pagerduty_client.py",
                    "schedule_layers": [
                        {
                            "name": "Daily",
                            "start": body_time(start),
                            "rotation_virtual_start": body_time(virtual_start),
                            "rotation_turn_length_seconds": TURN_SECONDS,
                            "users": [{"user": {"id": uid, "type": "user_reference"}} for uid in rotation],
                            "restrictions": [],
                        }
                    ],
                }
            },
        )
        self.schedule_id = field(schedule, "id", "POST /schedules")
        # Listed once among whatever schedules are there already (an earlier run's, say).
        listed = Counter()
        for i, s in enumerate(self.pd.iter_all("schedules")):
            what = f"GET /schedules schedules[{i}]"
            for key in ("id", "name", "summary", "time_zone"):
                if not isinstance(field(s, key, what), str):
                    raise Mismatch(f"{what}: {key} is {s[key]!r}, not a string")
            if field(s, "type", what) != "schedule":
                raise Mismatch(f"{what} has type {s['type']!r}, not 'schedule'")
            listed[s["id"]] += 1
        if listed[self.schedule_id] != 1:
            raise Mismatch(
                f"iter_all('schedules') yielded the schedule made ({self.schedule_id}) "
                f"{listed[self.schedule_id]} times among {len(listed)}, not once"
            )
        for key, want in (("name", name), ("time_zone", "Asia/Tokyo")):
            if field(schedule, key, "POST /schedules") != want:
                raise Mismatch(f"POST /schedules: {key} is {schedule[key]!r}, sent {want!r}")
        layers = field(schedule, "schedule_layers", "POST /schedules")
        if not isinstance(layers, list) or len(layers) != 1:
            raise Mismatch(f"POST /schedules answered schedule_layers {layers!r:.300}, not the one sent")
        layer_users = [
            ref_id(u, "user", "POST /schedules schedule_layers[0].users[]")
            for u in field(layers[0], "users", "POST /schedules schedule_layers[0]")
        ]
        if layer_users != rotation:
            raise Mismatch(f"POST /schedules: the layer's users are {layer_users}, sent {rotation}")

        expected = self.render()
        if len(expected) != DAYS or [u for u, _, _ in expected[:3]] != rotation[1:] + rotation[:1]:
            raise Mismatch(f"internal: expected turns are wrong:\n{show_entries(expected, self.names)}")
        self.check_final_schedule(expected, f"of {show(self.window[0])} - {show(self.window[1])}")
        print(
            f"b. schedule {self.schedule_id} (listed once among {len(listed)}): {DAYS} daily turns "
            f"from {start.isoformat()} rotate {', '.join(self.names[u].split()[-1] for u in rotation)} "
            "as computed"
        )

    def read_oncalls(self):
        since, until = self.window
        oncalls = list(
            self.pd.iter_all(
                "oncalls",
                params={
                    "escalation_policy_ids[]": [self.ep_id],
                    "since": query_time(since),
                    "until": query_time(until),
                },
            )
        )
        levels = {}
        for i, o in enumerate(oncalls):
            what = f"GET /oncalls oncalls[{i}]"
            ep = ref_id(o, "escalation_policy", what)
            if ep != self.ep_id:
                raise Mismatch(
                    f"{what} is for escalation policy {ep}: escalation_policy_ids[] was not applied"
                )
            levels.setdefault(field(o, "escalation_level", what), []).append((what, o))
        if set(levels) - {1, 2}:
            raise Mismatch(f"GET /oncalls has escalation levels {sorted(levels)}, not 1 and 2")
        return levels

    def check_level_one(self, levels, expected, when: str):
        got = []
        for what, o in levels.get(1, []):
            sid = ref_id(o, "schedule", what) if o.get("schedule") is not None else None
            if sid != self.schedule_id:
                raise Mismatch(f"{what} (level 1) has schedule {o.get('schedule')!r}, not {self.schedule_id}")
            got.extend(entries_of([o], what))
        got.sort(key=lambda e: e[1])
        if not same_entries(got, expected):
            raise Mismatch(
                f"GET /oncalls level 1 {when} (Asia/Tokyo times) is\n{show_entries(got, self.names)}\n"
                f"  expected (the final schedule)\n{show_entries(expected, self.names)}"
            )

    def step_c_oncalls(self):
        direct = self.users[3]
        name = f"PD Client {self.tag} escalation"
        ep = self.pd.rpost(
            "escalation_policies",
            json={
                "escalation_policy": {
                    "name": name,
                    "type": "escalation_policy",
                    "num_loops": 1,
                    "escalation_rules": [
                        {
                            "escalation_delay_in_minutes": 30,
                            "targets": [{"id": self.schedule_id, "type": "schedule_reference"}],
                        },
                        {
                            "escalation_delay_in_minutes": 30,
                            "targets": [{"id": direct, "type": "user_reference"}],
                        },
                    ],
                }
            },
        )
        what = "POST /escalation_policies"
        self.ep_id = field(ep, "id", what)
        rules = field(ep, "escalation_rules", what)
        targets = [
            [
                field(t, "id", f"{what} escalation_rules[].targets[]")
                for t in field(r, "targets", f"{what} escalation_rules[]")
            ]
            for r in rules
        ]
        if targets != [[self.schedule_id], [direct]]:
            raise Mismatch(f"{what}: the rules' targets are {targets}, sent {[[self.schedule_id], [direct]]}")

        levels = self.read_oncalls()
        self.check_level_one(levels, self.render(), "")
        second = levels.get(2, [])
        if len(second) != 1:
            raise Mismatch(f"GET /oncalls has {len(second)} level-2 entries, not 1 (the person {direct})")
        what, o = second[0]
        if ref_id(o, "user", what) != direct:
            raise Mismatch(f"{what} (level 2) is user {o['user'].get('id')}, not {direct}")
        for key in ("start", "end", "schedule"):
            if o.get(key) is not None:
                raise Mismatch(f"{what} (level 2, a person named directly) has {key} {o[key]!r}, not null")
        print(
            f"c. escalation policy {self.ep_id}: /oncalls level 1 = the schedule's {len(levels.get(1, []))} "
            f"turns, level 2 = {self.names[direct].split()[-1]} with start and end null"
        )

    def post_overrides(self, items):
        path = f"schedules/{self.schedule_id}/overrides"
        try:
            answer = self.pd.rpost(path, json={"overrides": items})
        except pagerduty.HttpError as e:
            raise Mismatch(
                f"POST /{path} answered HTTP {e.response.status_code}: {e.response.text[:500]}; "
                "PagerDuty answers 201 with one {status, override|errors} per item"
            ) from None
        # The client does not unwrap this answer (ENTITY_WRAPPER_CONFIG: ("overrides", None)).
        if not isinstance(answer, list) or len(answer) != len(items):
            raise Mismatch(f"POST /{path} answered {answer!r:.300}, not a list of {len(items)} results")
        return answer

    def list_overrides(self):
        since, until = self.window
        path = f"schedules/{self.schedule_id}/overrides"
        raw = self.pd.rget(path, params={"since": query_time(since), "until": query_time(until)})
        if not isinstance(raw, list):
            raise Mismatch(f"GET /{path} 'overrides' is {raw!r:.200}, not a list")
        return {
            field(o, "id", f"GET /{path} overrides[]"): entries_of([o], f"GET /{path} overrides[]")[0]
            for o in raw
        }

    def step_d_overrides(self):
        start = self.turns[0][1]
        a_user, b_user, bad_user = self.users[4], self.users[5], self.users[6]
        # A: an afternoon in the middle of a turn; B: the whole turn of day 3.
        a = (a_user, start + DAY + timedelta(hours=4), start + DAY + timedelta(hours=10))
        b = (b_user, start + 3 * DAY, start + 4 * DAY)

        def item(u, s, e):
            return {"start": body_time(s), "end": body_time(e), "user": {"id": u, "type": "user_reference"}}

        made = []
        for i, result in enumerate(self.post_overrides([item(*a), item(*b)])):
            what = f"POST overrides result [{i}]"
            if field(result, "status", what) != 201:
                raise Mismatch(f"{what} has status {result['status']!r}, not 201: {result!r:.300}")
            entry = entries_of([field(result, "override", what)], f"{what}.override")[0]
            if entry != (a, b)[i]:
                raise Mismatch(
                    f"{what}.override is\n{show_entries([entry], self.names)}\n  sent\n"
                    + show_entries([(a, b)[i]], self.names)
                )
            made.append(field(result["override"], "id", f"{what}.override"))
        a_id, b_id = made

        bad = self.post_overrides(
            [item(bad_user, start + 2 * DAY + timedelta(hours=3), start + 2 * DAY + timedelta(hours=1))]
        )[0]
        status = bad.get("status") if isinstance(bad, dict) else None
        errors = bad.get("errors") if isinstance(bad, dict) else None
        if (
            status != 400
            or not errors
            or not isinstance(errors, list)
            or not all(isinstance(x, str) and x for x in errors)
        ):
            raise Mismatch(
                f"an override ending before its start got {bad!r:.300}, not status 400 with errors"
            )

        listed = self.list_overrides()
        if listed != {a_id: a, b_id: b}:
            raise Mismatch(
                f"GET overrides lists {sorted(listed)}, not the two made ({a_id}, {b_id}) with their times:\n"
                + show_entries(list(listed.values()), self.names)
            )
        with_both = self.render([a, b])
        self.check_final_schedule(with_both, "with the two overrides")
        self.check_level_one(self.read_oncalls(), with_both, "with the two overrides")

        r = self.pd.rdelete(f"schedules/{self.schedule_id}/overrides/{b_id}")
        if r.status_code != 204:
            raise Mismatch(f"DELETE of the future override {b_id} answered {r.status_code}, not 204")
        listed = self.list_overrides()
        if listed != {a_id: a}:
            raise Mismatch(f"after DELETE of {b_id}, GET overrides lists {sorted(listed)}, not just {a_id}")
        with_a = self.render([a])
        self.check_final_schedule(with_a, f"after DELETE of override {b_id}")
        self.check_level_one(self.read_oncalls(), with_a, f"after DELETE of override {b_id}")
        print(
            f"d. overrides: batch of 2 -> 201 per item; end-before-start item -> 400 {errors[0]!r}; "
            f"listed, in the final schedule and /oncalls; DELETE {b_id} -> 204, gone from all three"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url", help="the REST API root, e.g. http://127.0.0.1:8080/api/v2")
    parser.add_argument("token", help="an owner API token")
    parser.add_argument("--through", choices=list("abcd"), default="d", help="stop after this step")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # step lines before a failure, in CI's log too

    run = Run(client_for(args.base_url, args.token))
    steps = [
        ("a", "users", run.step_a_users),
        ("b", "schedule", run.step_b_schedule),
        ("c", "escalation policy and on-calls", run.step_c_oncalls),
        ("d", "overrides", run.step_d_overrides),
    ]
    for letter, title, step in steps:
        try:
            step()
        except Mismatch as e:
            print(f"FAILED in step {letter} ({title}): {e}", file=sys.stderr)
            return 1
        except pagerduty.Error as e:
            detail = ""
            if e.response is not None:
                detail = f"\n  HTTP {e.response.status_code}: {e.response.text[:1000]}"
            print(f"FAILED in step {letter} ({title}): {type(e).__name__}: {e}{detail}", file=sys.stderr)
            return 1
        if letter == args.through:
            break
    print(
        f"pagerduty {pagerduty.__version__} RestApiV2Client: "
        f"{'step a' if args.through == 'a' else 'steps a-' + args.through} passed "
        f"({run.pd.total_call_count} API calls)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
