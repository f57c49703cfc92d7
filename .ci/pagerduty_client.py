"""Drives Rota's REST API with PagerDuty's own Python client (PyPI pagerduty, RestApiV2Client).

Usage: python pagerduty_client.py BASE_URL API_TOKEN [--through a|b|...|j]

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

Incident communication, each step on what the one before made:

  e. A service made with rpost('services') (its policy pages the seventh user) and an Events
     API v2 integration (rpost('services/ID/integrations'): a 32-hex routing key, shown only
     then); PagerDuty's EventsApiV2Client, pointed at the server root, triggers an incident
     (found by iter_all('incidents', service_ids[], incident_key), assigned to level 1); a
     repeat of its dedup_key opens nothing more.
  f. Status updates: two people subscribed (results success, then duplicate when asked
     again), an update posted as the `From` user (sender, message) and listed, one
     unsubscribed (deleted_count 1, then non_existent_count 1), the subscriber list each time.
  g. GET /incidents/ID/summary in en (names the incident, carries the status update) and ja.
  h. Four more incidents triggered (three like the first, one not), resolved by the Events
     API and by rput with `From`; GET /incidents/ID/related_incidents lists the three
     (waiting for the index to catch up), in PagerDuty's shape, above the unlike one.
  i. A postmortem of a resolved one: drafted by rpost (a second refused), read as JSON and
     Markdown, edited by rput of what rget answered (version + 1; the stale version refused);
     GET /postmortem_action_items with list_all in pages of 2: the three open items, and the
     done one only by statuses[].
  j. Chat channels of the service (Teams, Slack; loopback webhook URLs, nothing receives
     them): made (the URL never shown back; plain http to another host refused), listed,
     deleted (204, then 404).

Rota's own paths (summary, postmortem, action items, chat channels) are added to the client's
canonical paths and entity wrapping (RotaRestApiV2Client), as the client is built to be
extended; everything else is PagerDuty's client as shipped.

The database need not be fresh: .ci/pagerduty-client also runs this script on a database that
Entra's SCIM provisioning wrote to first (.ci/entra_replay.py: its users, some deactivated or
waiting for a seat, a group), and then a second time on that same database. So every name and
e-mail made here carries a tag of this run (`PD Client 3fa9c1 007`), and the checks look for
this run's own objects among whatever else is there: iter_all must yield each of its users
exactly once (and every user it yields, whoever made it, in PagerDuty's shape), not an exact
count; its schedule must be listed once among the others; its incidents are found by its
own service, and the related incidents of its own must be among those of earlier runs. Step a lifts a full-seat cap that
would leave its users waiting (the replay's database has one).

--through stops after the given step (b to j need a's users; c and d need b's schedule; f to j
need e's service and incident, i needs h's resolved incident).
Exits 1 with one `FAILED in step ...` line, saying what differed, on the first mismatch.
"""

import argparse
import itertools
import math
import secrets
import sys
import time as time_module
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


# Rota's own endpoints beside PagerDuty's: the client only calls paths it knows (its
# CANONICAL_PATHS) and wraps bodies by its ENTITY_WRAPPER_CONFIG, both meant to be extended
# this way. Each path's wrapping is what Rota documents in /api/v2/openapi.json.
ROTA_PATHS = {
    "/incidents/{id}/summary": {"GET": None},  # {summary, text}: two properties
    "/incidents/{id}/postmortem": {"GET": "postmortem", "POST": (None, "postmortem"), "PUT": "postmortem"},
    "/postmortem_action_items": {"GET": "action_items"},
    "/services/{id}/chat_channels": {},  # orthodox: chat_channel(s)
    "/services/{id}/chat_channels/{channel_id}": {},
}


class RotaRestApiV2Client(pagerduty.RestApiV2Client):
    """The stock RestApiV2Client, told Rota's extra paths and their entity wrapping."""

    @property
    def canonical_paths(self):
        return super().canonical_paths + list(ROTA_PATHS)

    @property
    def entity_wrapper_config(self) -> dict:
        config = dict(super().entity_wrapper_config)
        for path, methods in ROTA_PATHS.items():
            for method, wrapper in methods.items():
                config[f"{method} {path}"] = wrapper
        return config


class PlainHttpUrl:
    """A client whose base URL may be plain http (Rota on 127.0.0.1 in CI).

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


class LocalRestApiV2Client(PlainHttpUrl, RotaRestApiV2Client):
    pass


class LocalEventsApiV2Client(PlainHttpUrl, pagerduty.EventsApiV2Client):
    pass


def client_for(base_url: str, token: str) -> pagerduty.RestApiV2Client:
    cls = RotaRestApiV2Client if base_url.startswith("https://") else LocalRestApiV2Client
    # trust_env=False: no HTTP(S)_PROXY from the CI environment between us and 127.0.0.1.
    client = cls(token, base_url=base_url.rstrip("/"), trust_env=False)
    client.timeout = 30
    return client


def events_client_for(base_url: str, routing_key: str) -> pagerduty.EventsApiV2Client:
    """PagerDuty's Events API v2 client pointed at Rota: the server root (/v2/enqueue beside
    /api/v2), the routing key an integration made through REST answered."""
    root = base_url.rstrip("/").removesuffix("/api/v2")
    cls = pagerduty.EventsApiV2Client if root.startswith("https://") else LocalEventsApiV2Client
    client = cls(routing_key, base_url=root, trust_env=False)
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
    def __init__(self, client, base_url: str):
        self.pd = client
        self.base_url = base_url
        # In every name and e-mail made: a second run on the same database (or any other
        # client's data) never collides with this one's.
        self.tag = secrets.token_hex(3)
        self.users = []  # ids, in the order made
        self.names = {}  # id -> name, for messages
        self.schedule_id = None
        self.ep_id = None
        self.window = None
        self.turns = None
        self.service_id = None  # step e's service, its Events API client and open incident
        self.events = None
        self.incident_id = None
        self.title = None
        self.update_id = None  # step f's status update
        self.update_message = None
        self.resolved_id = None  # step h: a resolved incident (step i writes its postmortem)

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

    # --- incident communication (steps e-i) -------------------------------------------------

    def email_of(self, i: int) -> str:
        return f"pd-client-{self.tag}-{i:03d}@example.com"

    def as_responder(self) -> dict:
        """The `From` header: the owner token is not a person, so a responder is named (a
        full user, this run's seventh), as PagerDuty asks of account-level tokens."""
        return {"From": self.email_of(7)}

    def find_incident(self, dedup_key: str) -> dict:
        """The incident a trigger opened, by the service and incident_key, via iter_all."""
        found = list(
            self.pd.iter_all(
                "incidents",
                params={"service_ids[]": [self.service_id], "incident_key": dedup_key, "date_range": "all"},
            )
        )
        if len(found) != 1:
            raise Mismatch(
                f"iter_all('incidents', service_ids[]={self.service_id}, incident_key={dedup_key!r}) "
                f"yielded {len(found)} incidents, not the one the trigger opened"
            )
        return found[0]

    def check_incident(self, incident, what: str, title: str, status: str) -> str:
        iid = field(incident, "id", what)
        for key in ("summary", "self", "html_url", "created_at"):
            if not isinstance(field(incident, key, what), str):
                raise Mismatch(f"{what}: {key} is {incident[key]!r}, not a string")
        if field(incident, "type", what) != "incident":
            raise Mismatch(f"{what} has type {incident['type']!r}, not 'incident'")
        if not isinstance(field(incident, "incident_number", what), int):
            raise Mismatch(f"{what}: incident_number is {incident['incident_number']!r}")
        if field(incident, "title", what) != title:
            raise Mismatch(f"{what}: title is {incident['title']!r}, the event's summary was {title!r}")
        if field(incident, "status", what) != status:
            raise Mismatch(f"{what}: status is {incident['status']!r}, not {status!r}")
        if ref_id(incident, "service", what) != self.service_id:
            raise Mismatch(f"{what}: service is {incident['service']!r:.200}, not {self.service_id}")
        return iid

    def trigger(self, summary: str, dedup_key: str, component: str) -> str:
        got = self.events.trigger(
            summary,
            f"db-{self.tag}.example.com",
            dedup_key=dedup_key,
            severity="critical",
            payload={"component": component, "class": "disk", "group": "database"},
            custom_details={"mount": "/var/lib/postgresql", "used_percent": 99},
        )
        if got != dedup_key:
            raise Mismatch(f"EventsApiV2Client.trigger({summary!r}) answered dedup_key {got!r}, sent {dedup_key!r}")
        return dedup_key

    def step_e_incident(self):
        responder = self.users[7]
        ep = self.pd.rpost(
            "escalation_policies",
            json={
                "escalation_policy": {
                    "name": f"PD Client {self.tag} paging",
                    "type": "escalation_policy",
                    "escalation_rules": [
                        {
                            "escalation_delay_in_minutes": 30,
                            "targets": [{"id": responder, "type": "user_reference"}],
                        }
                    ],
                }
            },
        )
        paging_ep = field(ep, "id", "POST /escalation_policies")
        name = f"PD Client {self.tag} database"
        service = self.pd.rpost(
            "services",
            json={
                "service": {
                    "type": "service",
                    "name": name,
                    "description": "Made by .ci/pagerduty_client.py",
                    "escalation_policy": {"id": paging_ep, "type": "escalation_policy_reference"},
                    "incident_urgency_rule": {"type": "constant", "urgency": "high"},
                }
            },
        )
        what = "POST /services"
        self.service_id = field(service, "id", what)
        if field(service, "name", what) != name or field(service, "type", what) != "service":
            raise Mismatch(f"{what}: name/type are {service['name']!r}/{service['type']!r}, sent {name!r}/service")
        if ref_id(service, "escalation_policy", what) != paging_ep:
            raise Mismatch(f"{what}: escalation_policy is {service['escalation_policy']!r:.200}, sent {paging_ep}")

        path = f"services/{self.service_id}/integrations"
        integration = self.pd.rpost(
            path, json={"integration": {"type": "events_api_v2_inbound_integration", "name": "Events API"}}
        )
        what = f"POST /{path}"
        key = field(integration, "integration_key", what)
        if not isinstance(key, str) or len(key) != 32 or any(c not in "0123456789abcdef" for c in key):
            raise Mismatch(f"{what}: integration_key is {key!r}, not a routing key of 32 hex digits")
        if field(integration, "type", what) != "events_api_v2_inbound_integration":
            raise Mismatch(f"{what}: type is {integration['type']!r}")
        if ref_id(integration, "service", what) != self.service_id:
            raise Mismatch(f"{what}: service is {integration['service']!r:.200}, not {self.service_id}")
        shown = self.pd.rget(f"{path}/{field(integration, 'id', what)}")
        if "integration_key" in shown:
            raise Mismatch(f"GET /{path}/ID shows the routing key again: it is shown once, when made")
        self.events = events_client_for(self.base_url, key)

        self.title = f"Disk full on db-{self.tag} primary: /var/lib/postgresql at 99%"
        dedup = self.trigger(self.title, f"disk-{self.tag}-primary", "postgresql")
        incident = self.find_incident(dedup)
        self.incident_id = self.check_incident(incident, "the triggered incident", self.title, "triggered")
        # A repeat of the same key adds to its alert, it opens no second incident.
        self.trigger(self.title, dedup, "postgresql")
        again = self.find_incident(dedup)
        if again["id"] != self.incident_id:
            raise Mismatch(f"a repeated trigger of {dedup!r} is incident {again['id']}, not {self.incident_id}")
        shown = self.pd.rget(f"incidents/{self.incident_id}")
        self.check_incident(shown, f"GET /incidents/{self.incident_id}", self.title, "triggered")
        assignees = [
            ref_id(a, "assignee", f"GET /incidents/{self.incident_id} assignments[]")
            for a in field(shown, "assignments", f"GET /incidents/{self.incident_id}")
        ]
        if assignees != [responder]:
            raise Mismatch(
                f"GET /incidents/{self.incident_id}: assigned to {assignees}, not the policy's level 1 ({responder})"
            )
        alerts = self.pd.rget(f"incidents/{self.incident_id}/alerts")
        if len(alerts) != 1:
            raise Mismatch(f"GET /incidents/{self.incident_id}/alerts lists {len(alerts)} alerts, not the one")
        print(
            f"e. Events API v2 (EventsApiV2Client at the server root): service {self.service_id} and its "
            f"integration made with rpost; trigger -> incident #{incident['incident_number']} "
            f"{self.incident_id}, assigned to level 1; a repeat of its dedup_key opens nothing more"
        )

    def subscribe(self, people):
        path = f"incidents/{self.incident_id}/status_updates/subscribers"
        return self.pd.rpost(
            path, json=[{"subscriber_id": p, "subscriber_type": "user"} for p in people]
        )

    def subscriber_ids(self) -> list:
        path = f"incidents/{self.incident_id}/status_updates/subscribers"
        listed = self.pd.rget(path)
        if not isinstance(listed, list):
            raise Mismatch(f"GET /{path} 'subscribers' is {listed!r:.200}, not a list")
        out = []
        for i, s in enumerate(listed):
            what = f"GET /{path} subscribers[{i}]"
            if field(s, "subscriber_type", what) != "user":
                raise Mismatch(f"{what}: subscriber_type is {s['subscriber_type']!r}, not 'user'")
            parse_time(field(s, "subscribed_at", what), f"{what}.subscribed_at")
            out.append(field(s, "subscriber_id", what))
        return sorted(out)

    def unsubscribe(self, people):
        path = f"incidents/{self.incident_id}/status_updates/unsubscribe"
        # The client does not unwrap this answer (ENTITY_WRAPPER_CONFIG: ("subscribers", None)).
        return self.pd.rpost(
            path, json=[{"subscriber_id": p, "subscriber_type": "user"} for p in people]
        )

    def step_f_status_updates(self):
        a, b = self.users[8], self.users[9]
        path = f"incidents/{self.incident_id}/status_updates/subscribers"
        subscriptions = self.subscribe([a, b])
        if not isinstance(subscriptions, list) or len(subscriptions) != 2:
            raise Mismatch(f"POST /{path} answered {subscriptions!r:.300}, not 2 subscriptions")
        for i, (s, who) in enumerate(zip(subscriptions, (a, b))):
            what = f"POST /{path} subscriptions[{i}]"
            want = {
                "subscribable_id": self.incident_id,
                "subscribable_type": "incident",
                "subscriber_id": who,
                "subscriber_type": "user",
                "result": "success",
            }
            got = {k: field(s, k, what) for k in want}
            if got != want:
                raise Mismatch(f"{what} is {got}, not {want}")
        again = self.subscribe([a])
        if [field(s, "result", f"POST /{path} (again)") for s in again] != ["duplicate"]:
            raise Mismatch(f"subscribing {a} a second time answered {again!r:.300}, not result 'duplicate'")
        if self.subscriber_ids() != sorted([a, b]):
            raise Mismatch(f"GET /{path} lists {self.subscriber_ids()}, not the two subscribed ({a}, {b})")

        message = f"Run {self.tag}: the primary's disk is full; writes fail; failing over to the replica."
        updates_path = f"incidents/{self.incident_id}/status_updates"
        update = self.pd.rpost(updates_path, json={"message": message}, headers=self.as_responder())
        what = f"POST /{updates_path}"
        self.update_id = field(update, "id", what)
        if field(update, "type", what) != "status_update" or field(update, "message", what) != message:
            raise Mismatch(f"{what} answered {update!r:.300}, not a status_update with the message sent")
        if ref_id(update, "sender", what) != self.users[7]:
            raise Mismatch(f"{what}: sender is {update['sender']!r:.200}, not the From user {self.users[7]}")
        parse_time(field(update, "created_at", what), f"{what}.created_at")
        self.update_message = message
        listed = self.pd.rget(updates_path)
        if not isinstance(listed, list) or [
            (field(u, "id", f"GET /{updates_path} status_updates[]"), u.get("message")) for u in listed
        ] != [(self.update_id, message)]:
            raise Mismatch(f"GET /{updates_path} lists {listed!r:.300}, not just the update posted")

        ended = self.unsubscribe([b])
        want = {"deleted_count": 1, "non_existent_count": 0}
        if not isinstance(ended, dict) or {k: ended.get(k) for k in want} != want:
            raise Mismatch(f"POST /{updates_path}/unsubscribe of {b} answered {ended!r:.300}, not {want}")
        ended = self.unsubscribe([b])
        want = {"deleted_count": 0, "non_existent_count": 1}
        if not isinstance(ended, dict) or {k: ended.get(k) for k in want} != want:
            raise Mismatch(f"unsubscribing {b} a second time answered {ended!r:.300}, not {want}")
        if self.subscriber_ids() != [a]:
            raise Mismatch(f"after unsubscribing {b}, GET /{path} lists {self.subscriber_ids()}, not just {a}")
        print(
            f"f. status updates: 2 subscribed (success, then duplicate), update {self.update_id} posted "
            "as the From user and listed, one unsubscribed (1 deleted, then 1 non-existent)"
        )

    def summary_of(self, language: str):
        path = f"incidents/{self.incident_id}/summary"
        answer = self.pd.rget(path, params={"language": language})
        what = f"GET /{path}?language={language}"
        summary = field(answer, "summary", what)
        text = field(answer, "text", what)
        headline = field(summary, "headline", f"{what} summary")
        lines = field(summary, "lines", f"{what} summary")
        if field(summary, "language", f"{what} summary") != language:
            raise Mismatch(f"{what}: summary.language is {summary['language']!r}")
        if not isinstance(headline, str) or not isinstance(lines, list) or not lines:
            raise Mismatch(f"{what}: headline {headline!r:.100} and lines {lines!r:.200}: not text and lines")
        if not all(isinstance(x, str) and x for x in lines):
            raise Mismatch(f"{what}: lines are {lines!r:.300}, not non-empty strings")
        if not isinstance(text, str) or not text.startswith(headline):
            raise Mismatch(f"{what}: text {text!r:.200} does not start with the headline {headline!r}")
        return headline, lines, text

    def step_g_summary(self):
        shown = self.pd.rget(f"incidents/{self.incident_id}")
        number = str(shown["incident_number"])
        headline, lines, text = self.summary_of("en")
        if number not in headline or self.tag not in headline:
            raise Mismatch(f"summary headline {headline!r} names neither #{number} nor the title")
        if self.tag not in text[len(headline):] or "failing over" not in text:
            raise Mismatch(f"the summary does not carry the last status update ({self.update_message!r}):\n{text}")
        ja_headline, _, _ = self.summary_of("ja")
        if ja_headline == headline:
            raise Mismatch(f"the summary in ja has the English headline {headline!r}")
        print(f"g. summary: {len(lines)} lines in en (headline names #{number}, the status update is in it) and in ja")

    def resolve(self, iid: str, via: str, dedup_key: str):
        if via == "events":
            if self.events.resolve(dedup_key) != dedup_key:
                raise Mismatch(f"EventsApiV2Client.resolve({dedup_key!r}) answered another dedup_key")
        else:
            answer = self.pd.rput(
                f"incidents/{iid}",
                json={"type": "incident_reference", "status": "resolved"},
                headers=self.as_responder(),
            )
            if field(answer, "status", f"PUT /incidents/{iid}") != "resolved":
                raise Mismatch(f"PUT /incidents/{iid} status resolved answered status {answer['status']!r}")
        shown = self.pd.rget(f"incidents/{iid}")
        if shown.get("status") != "resolved":
            raise Mismatch(f"incident {iid}, resolved via {via}, has status {shown.get('status')!r}")

    def step_h_related(self):
        # Three like the open one, one not; all resolved (by the Events API and by REST).
        similar = [
            (f"Disk full on db-{self.tag} replica {n}: /var/lib/postgresql at 98%", f"disk-{self.tag}-replica-{n}")
            for n in (1, 2, 3)
        ]
        other_title = f"TLS certificate for api-{self.tag} gateway expires in 3 days"
        made = {}
        for title, dedup in similar + [(other_title, f"cert-{self.tag}")]:
            self.trigger(title, dedup, "postgresql" if dedup.startswith("disk") else "gateway")
            iid = self.check_incident(self.find_incident(dedup), f"the incident of {dedup!r}", title, "triggered")
            made[iid] = (title, dedup)
        ids = list(made)
        self.resolve(ids[0], "events", made[ids[0]][1])
        self.resolve(ids[1], "rest", made[ids[1]][1])
        self.resolve(ids[2], "events", made[ids[2]][1])
        self.resolve(ids[3], "rest", made[ids[3]][1])
        self.resolved_id = ids[1]
        want = set(ids[:3])

        # The index catches up on resolutions at most once a second: asked again for a while.
        path = f"incidents/{self.incident_id}/related_incidents"
        deadline = time_module.monotonic() + 20
        while True:
            related = self.pd.rget(path, params={"limit": 50})
            if not isinstance(related, list):
                raise Mismatch(f"GET /{path} 'related_incidents' is {related!r:.200}, not a list")
            got = [ref_id(r, "incident", f"GET /{path} related_incidents[]") for r in related]
            if want <= set(got) or time_module.monotonic() > deadline:
                break
            time_module.sleep(0.5)
        if not want <= set(got):
            raise Mismatch(
                f"GET /{path} lists {got}, missing the resolved similar incidents "
                f"{sorted(want - set(got))} 20 s after they were resolved"
            )
        if self.incident_id in got or len(set(got)) != len(got):
            raise Mismatch(f"GET /{path} lists {got}: the incident itself, or one incident twice")
        for i, r in enumerate(related):
            what = f"GET /{path} related_incidents[{i}]"
            rel = field(r, "relationships", what)
            if not isinstance(rel, list) or not rel or field(rel[0], "type", f"{what}.relationships[0]") != (
                "machine_learning_inferred"
            ):
                raise Mismatch(f"{what}: relationships is {rel!r:.200}, not PagerDuty's machine_learning_inferred")
            if r["incident"]["id"] in made:
                title, _ = made[r["incident"]["id"]]
                if field(r, "title", what) != title or ref_id(r, "service", what) != self.service_id:
                    raise Mismatch(f"{what}: title/service {r['title']!r}/{r['service']!r:.100}, not {title!r}")
                resolved = parse_time(field(r, "resolved_at", what), f"{what}.resolved_at")
                created = parse_time(field(r, "created_at", what), f"{what}.created_at")
                duration = field(r, "duration_seconds", what)
                if resolved < created or duration != int((resolved - created).total_seconds()):
                    raise Mismatch(f"{what}: created {created}, resolved {resolved}, duration_seconds {duration!r}")
        rank = {iid: got.index(iid) for iid in got}
        if ids[3] in rank and rank[ids[3]] < max(rank[i] for i in want):
            raise Mismatch(f"GET /{path} ranks the certificate incident {ids[3]} above a disk one: {got}")
        print(
            f"h. related incidents: 4 triggered, resolved 2 by the Events API and 2 by rput with From; "
            f"the 3 similar are among {len(got)} related to {self.incident_id}, ranked above the other"
        )

    def step_i_postmortem(self):
        iid = self.resolved_id
        path = f"incidents/{iid}/postmortem"
        made = self.pd.rpost(path, json={"language": "en"}, headers=self.as_responder())
        what = f"POST /{path}"
        if field(made, "incident_id", what) != iid or field(made, "status", what) != "draft":
            raise Mismatch(f"{what} answered incident_id/status {made.get('incident_id')!r}/{made.get('status')!r}")
        version = field(made, "version", what)
        if not isinstance(field(made, "title", what), str) or not made["title"]:
            raise Mismatch(f"{what}: title is {made['title']!r}")
        if not isinstance(field(made, "timeline", what), list) or not made["timeline"]:
            raise Mismatch(f"{what}: the draft's timeline is {made['timeline']!r:.200}, not the incident's")
        if "root_causes" not in field(made, "prompts", what) or made.get("root_causes") is not None:
            raise Mismatch(f"{what}: root_causes {made.get('root_causes')!r} without its prompt: judgement is left empty")
        try:
            self.pd.rpost(path, json={}, headers=self.as_responder())
        except pagerduty.HttpError as e:
            if e.response.status_code not in (400, 409):
                raise Mismatch(f"a second POST /{path} answered HTTP {e.response.status_code}, not 400/409") from None
        else:
            raise Mismatch(f"a second POST /{path} made another postmortem: an incident has one")
        shown = self.pd.rget(path)
        if shown.get("version") != version or shown.get("title") != made["title"]:
            raise Mismatch(f"GET /{path} is version {shown.get('version')!r}, POST answered {version!r}")
        markdown = self.pd.get(path, headers={"Accept": "text/markdown"})
        if markdown.status_code != 200 or not markdown.headers.get("content-type", "").startswith("text/markdown"):
            raise Mismatch(f"GET /{path} as text/markdown answered {markdown.status_code} {markdown.headers.get('content-type')}")

        # Edited as a client does: what GET answered, changed, sent back (its version inside).
        owner = self.users[7]
        due = (datetime.now(timezone.utc) + 14 * DAY).date().isoformat()
        items = [
            {"id": f"{self.tag}-{n}", "description": f"Alert at 80% disk on db-{self.tag} ({n})",
             "kind": "prevent", "owner": owner, "due": due, "status": "open"}
            for n in (1, 2, 3)
        ] + [{"id": f"{self.tag}-done", "description": "Grow the replica's volume", "owner": owner,
              "status": "done"}]
        edited = dict(shown)
        edited.update(root_causes="WAL archiving stalled and filled the volume.", action_items=items)
        updated = self.pd.rput(path, json=edited, headers=self.as_responder())
        what = f"PUT /{path}"
        if field(updated, "version", what) != version + 1:
            raise Mismatch(f"{what}: version is {updated['version']!r}, not {version + 1}")
        if field(updated, "root_causes", what) != edited["root_causes"] or "root_causes" in field(updated, "prompts", what):
            raise Mismatch(f"{what}: root_causes {updated['root_causes']!r} (prompt still shown?)")
        if [x.get("id") for x in field(updated, "action_items", what)] != [x["id"] for x in items]:
            raise Mismatch(f"{what}: action_items {updated['action_items']!r:.300}, not the 4 sent")
        try:
            self.pd.rput(path, json=edited, headers=self.as_responder())  # still version N
        except pagerduty.HttpError as e:
            if e.response.status_code not in (400, 409):
                raise Mismatch(f"a stale {what} answered HTTP {e.response.status_code}, not 400/409") from None
        else:
            raise Mismatch(f"a {what} from version {version}, after version {version + 1}, was not refused")

        # Open items across incidents, paged (2 a page): this run's owner's three, never the done one.
        before = self.calls("GET /postmortem_action_items")
        listed = self.pd.list_all("postmortem_action_items", params={"owner_ids[]": [owner]}, page_size=2)
        pages = self.calls("GET /postmortem_action_items") - before
        got = Counter(field(x, "id", "GET /postmortem_action_items action_items[]") for x in listed)
        want = Counter(x["id"] for x in items[:3])
        if got != want or pages != 2:
            raise Mismatch(
                f"list_all('postmortem_action_items', owner_ids[]={owner}, page_size=2) yielded "
                f"{dict(got)} in {pages} requests, not {dict(want)} in 2"
            )
        for x in listed:
            what = f"GET /postmortem_action_items action_items[{x['id']}]"
            if ref_id(x, "incident", what) != iid or not field(x, "postmortem", what).endswith(f"/{path}"):
                raise Mismatch(f"{what}: incident/postmortem {x['incident']!r:.100}/{x['postmortem']!r}, not {iid}'s")
            if field(x, "status", what) != "open" or field(x, "due", what) != due or field(x, "owner", what) != owner:
                raise Mismatch(f"{what}: status/due/owner {x['status']!r}/{x['due']!r}/{x['owner']!r}")
        done = [x["id"] for x in self.pd.iter_all(
            "postmortem_action_items", params={"owner_ids[]": [owner], "statuses[]": ["done"]})]
        if done != [f"{self.tag}-done"]:
            raise Mismatch(f"iter_all('postmortem_action_items', statuses[]=done) yielded {done}, not the done item")
        print(
            f"i. postmortem of {iid}: drafted (version {version}, a second POST refused), read as JSON and "
            f"Markdown, edited by rput (version {version + 1}; a stale edit refused); action items: 3 open "
            "in 2 pages of list_all, the done one by statuses[]"
        )

    def step_j_chat(self):
        path = f"services/{self.service_id}/chat_channels"
        # Nothing receives these posts: a loopback http URL is accepted (https otherwise); the
        # chat outbox's failed attempts are its own business.
        secret = f"rota-ci-{self.tag}-{secrets.token_hex(8)}"
        sent = [
            ("teams", f"PD Client {self.tag} Teams", f"http://127.0.0.1:9/workflows/{secret}"),
            ("slack", f"PD Client {self.tag} Slack", f"http://localhost:9/services/{secret}"),
        ]
        made = []
        for kind, name, url in sent:
            channel = self.pd.rpost(path, json={"chat_channel": {"type": kind, "name": name, "url": url}})
            what = f"POST /{path} ({kind})"
            if (field(channel, "type", what), field(channel, "name", what)) != (kind, name):
                raise Mismatch(f"{what}: type/name {channel['type']!r}/{channel['name']!r}, sent {kind}/{name!r}")
            if "url" in channel or secret in str(field(channel, "url_hint", what)):
                raise Mismatch(f"{what} shows the webhook URL {channel!r:.300}: it is a secret, shown only as url_hint")
            made.append(field(channel, "id", what))
        try:
            self.pd.rpost(path, json={"chat_channel": {"type": "teams", "name": "plain", "url": "http://example.com/hook"}})
        except pagerduty.HttpError as e:
            body = e.response.text
            if e.response.status_code != 400 or "chat_channel.url" not in body:
                raise Mismatch(f"a plain-http chat URL answered {e.response.status_code} {body[:300]}, not 400 naming chat_channel.url") from None
        else:
            raise Mismatch(f"POST /{path} took a plain-http URL to another host")

        def listed():
            return sorted(field(c, "id", f"GET /{path} chat_channels[]") for c in self.pd.rget(path))

        if listed() != sorted(made):
            raise Mismatch(f"GET /{path} lists {listed()}, not the two made {made}")
        r = self.pd.rdelete(f"{path}/{made[0]}")
        if r.status_code != 204:
            raise Mismatch(f"DELETE /{path}/{made[0]} answered {r.status_code}, not 204")
        if listed() != [made[1]]:
            raise Mismatch(f"after DELETE of {made[0]}, GET /{path} lists {listed()}, not just {made[1]}")
        r = self.pd.delete(f"{path}/{made[0]}")
        if r.status_code != 404:
            raise Mismatch(f"a second DELETE /{path}/{made[0]} answered {r.status_code}, not 404")
        self.pd.rdelete(f"{path}/{made[1]}")
        if listed():
            raise Mismatch(f"after deleting both, GET /{path} lists {listed()}")
        print(
            "j. chat channels: Teams and Slack made (URL never shown back, plain http to another host "
            "refused), listed, deleted (204, then 404), gone"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url", help="the REST API root, e.g. http://127.0.0.1:8080/api/v2")
    parser.add_argument("token", help="an owner API token")
    parser.add_argument("--through", choices=list("abcdefghij"), default="j", help="stop after this step")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # step lines before a failure, in CI's log too

    run = Run(client_for(args.base_url, args.token), args.base_url)
    steps = [
        ("a", "users", run.step_a_users),
        ("b", "schedule", run.step_b_schedule),
        ("c", "escalation policy and on-calls", run.step_c_oncalls),
        ("d", "overrides", run.step_d_overrides),
        ("e", "incident from the Events API", run.step_e_incident),
        ("f", "status updates and subscribers", run.step_f_status_updates),
        ("g", "summary", run.step_g_summary),
        ("h", "related incidents", run.step_h_related),
        ("i", "postmortem and action items", run.step_i_postmortem),
        ("j", "chat channels", run.step_j_chat),
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
