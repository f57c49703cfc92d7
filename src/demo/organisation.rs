//! Who and what the demo's sample organisation holds: Contoso's people, teams, schedules,
//! services and the incidents of its last month. Data only; `seed` tells the story through the
//! service's own interfaces.

/// One person, as Entra ID provisions them.
pub struct Person {
    pub name: &'static str,
    /// Their user name and work e-mail: `first.last@contoso.example`.
    pub login: &'static str,
    pub phone: &'static str,
    /// The Entra app role assigned to them (decides their account role and seat).
    pub app_role: &'static str,
    pub team: Team,
    /// `preferredLanguage`.
    pub language: &'static str,
    pub time_zone: &'static str,
    /// Days before today on which they were provisioned.
    pub joined: i64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Team {
    /// Provisioned from Entra ID (a SCIM group): read-only in Rota.
    Platform,
    /// Provisioned from Entra ID (a SCIM group).
    Payments,
    /// Made in Rota by an admin.
    Mobile,
    /// Made in Rota: the read-only people kept informed.
    Support,
    /// In no team.
    None,
}

impl Team {
    pub fn name(self) -> &'static str {
        match self {
            Team::Platform => "Platform SRE",
            Team::Payments => "Payments",
            Team::Mobile => "Mobile",
            Team::Support => "Customer Support",
            Team::None => "",
        }
    }

    /// Teams that come from Entra ID as SCIM groups.
    pub fn from_directory(self) -> bool {
        matches!(self, Team::Platform | Team::Payments)
    }
}

#[allow(clippy::too_many_arguments)] // a row of the table below
const fn p(
    name: &'static str,
    login: &'static str,
    phone: &'static str,
    app_role: &'static str,
    team: Team,
    language: &'static str,
    time_zone: &'static str,
    joined: i64,
) -> Person {
    Person {
        name,
        login,
        phone,
        app_role,
        team,
        language,
        time_zone,
        joined,
    }
}

const LONDON: &str = "Europe/London";
const TOKYO: &str = "Asia/Tokyo";
const NEW_YORK: &str = "America/New_York";
const RESPONDER: &str = "Rota.Responder";

/// Thirty people. The last two joined this week and wait in the queue for a full seat: the cap
/// is set one short of everyone who needs one, twice over.
#[rustfmt::skip]
pub const PEOPLE: &[Person] = &[
    p("Olivia Bennett", "olivia.bennett@contoso.example", "+447700900101", "Rota.Owner", Team::None, "en-GB", LONDON, 30),
    p("Marcus Webb", "marcus.webb@contoso.example", "+447700900102", "Rota.Admin", Team::Platform, "en-GB", LONDON, 30),
    p("Lena Fischer", "lena.fischer@contoso.example", "+447700900103", "Rota.LicenseOwner", Team::None, "en-GB", LONDON, 30),
    p("Priya Raman", "priya.raman@contoso.example", "+447700900104", RESPONDER, Team::Platform, "en-GB", LONDON, 30),
    p("Tom Hughes", "tom.hughes@contoso.example", "+447700900105", RESPONDER, Team::Platform, "en-GB", LONDON, 30),
    p("Aisha Khan", "aisha.khan@contoso.example", "+447700900106", RESPONDER, Team::Platform, "en-GB", LONDON, 30),
    p("Daniel Novak", "daniel.novak@contoso.example", "+447700900107", RESPONDER, Team::Platform, "en-GB", LONDON, 30),
    p("Sofia Rossi", "sofia.rossi@contoso.example", "+447700900108", RESPONDER, Team::Platform, "en-GB", LONDON, 30),
    p("Ben Carter", "ben.carter@contoso.example", "+447700900109", RESPONDER, Team::Platform, "en-GB", LONDON, 30),
    p("Chloe Martin", "chloe.martin@contoso.example", "+447700900110", RESPONDER, Team::Platform, "en-GB", LONDON, 30),
    p("Haruto Sato", "haruto.sato@contoso.example", "+81355500101", RESPONDER, Team::Payments, "ja-JP", TOKYO, 26),
    p("Yui Tanaka", "yui.tanaka@contoso.example", "+81355500102", RESPONDER, Team::Payments, "ja-JP", TOKYO, 26),
    p("Kenji Watanabe", "kenji.watanabe@contoso.example", "+81355500103", RESPONDER, Team::Payments, "ja-JP", TOKYO, 26),
    p("Mei Lin", "mei.lin@contoso.example", "+81355500104", RESPONDER, Team::Payments, "en-US", TOKYO, 26),
    p("Emma Wilson", "emma.wilson@contoso.example", "+447700900111", RESPONDER, Team::Payments, "en-GB", LONDON, 26),
    p("Lucas Silva", "lucas.silva@contoso.example", "+447700900112", RESPONDER, Team::Payments, "en-GB", LONDON, 26),
    p("Ravi Patel", "ravi.patel@contoso.example", "+447700900113", RESPONDER, Team::Payments, "en-GB", LONDON, 26),
    p("Noah Kim", "noah.kim@contoso.example", "+12025550114", RESPONDER, Team::Payments, "en-US", NEW_YORK, 26),
    p("Jordan Lee", "jordan.lee@contoso.example", "+12025550115", RESPONDER, Team::Mobile, "en-US", NEW_YORK, 20),
    p("Sam Rivera", "sam.rivera@contoso.example", "+12025550116", RESPONDER, Team::Mobile, "en-US", NEW_YORK, 20),
    p("Olga Petrova", "olga.petrova@contoso.example", "+12025550117", RESPONDER, Team::Mobile, "en-US", NEW_YORK, 20),
    p("Diego Morales", "diego.morales@contoso.example", "+12025550118", RESPONDER, Team::Mobile, "en-US", NEW_YORK, 20),
    p("Grace Park", "grace.park@contoso.example", "+12025550119", RESPONDER, Team::Mobile, "en-US", NEW_YORK, 20),
    p("Ethan Brooks", "ethan.brooks@contoso.example", "+12025550120", RESPONDER, Team::Mobile, "en-US", NEW_YORK, 20),
    p("Hannah Scott", "hannah.scott@contoso.example", "+447700900121", "Rota.Stakeholder", Team::Support, "en-GB", LONDON, 12),
    p("Oliver Grant", "oliver.grant@contoso.example", "+447700900122", "Rota.Stakeholder", Team::Support, "en-GB", LONDON, 12),
    p("Akiko Mori", "akiko.mori@contoso.example", "+81355500123", "Rota.Stakeholder", Team::Support, "ja-JP", TOKYO, 12),
    p("Fatima Zahra", "fatima.zahra@contoso.example", "+447700900124", "Rota.Stakeholder", Team::Support, "en-GB", LONDON, 12),
    p("Liam O'Connor", "liam.oconnor@contoso.example", "+447700900125", RESPONDER, Team::None, "en-GB", LONDON, 2),
    p("Zoe Adams", "zoe.adams@contoso.example", "+12025550126", RESPONDER, Team::None, "en-US", NEW_YORK, 1),
];

/// Seat caps: one full seat short of the 25 people who need one, twice, and a stakeholder cap
/// past the 80 % warning.
pub const FULL_CAP: i64 = 23;
pub const STAKEHOLDER_CAP: i64 = 6;

/// The people a visitor can be, in the order the sample sign-in lists them, with what each
/// one shows (`demo.persona.<key>` in the catalogue).
pub const PERSONAS: &[(&str, &str)] = &[
    ("tom.hughes@contoso.example", "member"),
    ("priya.raman@contoso.example", "manager"),
    ("haruto.sato@contoso.example", "japanese"),
    ("lena.fischer@contoso.example", "licence_owner"),
    ("marcus.webb@contoso.example", "admin"),
    ("hannah.scott@contoso.example", "stakeholder"),
];

/// Team managers.
pub const MANAGERS: &[&str] = &[
    "priya.raman@contoso.example",
    "haruto.sato@contoso.example",
    "jordan.lee@contoso.example",
];

/// A schedule layer: who rotates, how long a turn is, and when it is on (none: always).
pub struct Layer {
    pub name: &'static str,
    pub people: &'static [&'static str],
    pub turn_hours: i64,
    /// The hand-off hour, UTC, on the first day.
    pub hand_off_utc: u32,
    pub restriction: Option<Restriction>,
}

pub enum Restriction {
    /// Every day from `start` (local, "HH:MM:SS") for `hours`.
    Daily { start: &'static str, hours: i64 },
    /// Weekly from `day` (1 = Monday) at `start` for `hours`.
    Weekly {
        day: u32,
        start: &'static str,
        hours: i64,
    },
}

pub struct Schedule {
    pub name: &'static str,
    pub time_zone: &'static str,
    pub team: Team,
    pub layers: &'static [Layer],
}

pub const SCHEDULES: &[Schedule] = &[
    Schedule {
        name: "Platform primary",
        time_zone: LONDON,
        team: Team::Platform,
        layers: &[Layer {
            name: "Weekly",
            people: &[
                "tom.hughes@contoso.example",
                "aisha.khan@contoso.example",
                "daniel.novak@contoso.example",
                "sofia.rossi@contoso.example",
                "ben.carter@contoso.example",
                "chloe.martin@contoso.example",
            ],
            turn_hours: 7 * 24,
            hand_off_utc: 9,
            restriction: None,
        }],
    },
    Schedule {
        name: "Platform secondary",
        time_zone: LONDON,
        team: Team::Platform,
        layers: &[Layer {
            name: "Weekly",
            people: &[
                "ben.carter@contoso.example",
                "chloe.martin@contoso.example",
                "priya.raman@contoso.example",
                "marcus.webb@contoso.example",
            ],
            turn_hours: 7 * 24,
            hand_off_utc: 9,
            restriction: None,
        }],
    },
    Schedule {
        name: "Payments primary",
        time_zone: TOKYO,
        team: Team::Payments,
        layers: &[
            Layer {
                name: "Daily, Tokyo",
                people: &[
                    "haruto.sato@contoso.example",
                    "yui.tanaka@contoso.example",
                    "kenji.watanabe@contoso.example",
                    "mei.lin@contoso.example",
                ],
                turn_hours: 24,
                hand_off_utc: 0,
                restriction: None,
            },
            Layer {
                name: "Weekends, London",
                people: &[
                    "emma.wilson@contoso.example",
                    "lucas.silva@contoso.example",
                    "ravi.patel@contoso.example",
                    "noah.kim@contoso.example",
                ],
                turn_hours: 7 * 24,
                hand_off_utc: 0,
                restriction: Some(Restriction::Weekly {
                    day: 6,
                    start: "09:00:00",
                    hours: 48,
                }),
            },
        ],
    },
    Schedule {
        name: "Mobile business hours",
        time_zone: NEW_YORK,
        team: Team::Mobile,
        layers: &[Layer {
            name: "Weekdays 08:00–20:00",
            people: &[
                "jordan.lee@contoso.example",
                "sam.rivera@contoso.example",
                "olga.petrova@contoso.example",
                "diego.morales@contoso.example",
                "grace.park@contoso.example",
                "ethan.brooks@contoso.example",
            ],
            turn_hours: 7 * 24,
            hand_off_utc: 13,
            restriction: Some(Restriction::Daily {
                start: "08:00:00",
                hours: 12,
            }),
        }],
    },
];

/// An escalation policy: levels of (delay in minutes, schedule names or logins).
pub struct Policy {
    pub name: &'static str,
    pub team: Team,
    pub levels: &'static [(i64, &'static [&'static str])],
}

pub const POLICIES: &[Policy] = &[
    Policy {
        name: "Platform",
        team: Team::Platform,
        levels: &[
            (15, &["Platform primary"]),
            (15, &["Platform secondary"]),
            (30, &["priya.raman@contoso.example"]),
        ],
    },
    Policy {
        name: "Payments",
        team: Team::Payments,
        levels: &[
            (10, &["Payments primary"]),
            (20, &["haruto.sato@contoso.example"]),
        ],
    },
    Policy {
        name: "Mobile",
        team: Team::Mobile,
        levels: &[
            (30, &["Mobile business hours"]),
            (30, &["jordan.lee@contoso.example"]),
        ],
    },
    // One minute a level, so a visitor watches a sample alert climb.
    Policy {
        name: "Sample alerts (demo)",
        team: Team::Platform,
        levels: &[
            (1, &["Platform primary"]),
            (1, &["Platform secondary"]),
            (1, &["priya.raman@contoso.example"]),
        ],
    },
];

pub struct Service {
    pub name: &'static str,
    pub description: &'static str,
    pub policy: &'static str,
    pub team: Team,
}

pub const SAMPLE_SERVICE: &str = "Sample alerts";

pub const SERVICES: &[Service] = &[
    Service {
        name: "Web frontend",
        description: "www.contoso.example and the account pages",
        policy: "Platform",
        team: Team::Platform,
    },
    Service {
        name: "Kubernetes cluster",
        description: "The production clusters in eu-west and ap-northeast",
        policy: "Platform",
        team: Team::Platform,
    },
    Service {
        name: "Checkout API",
        description: "Baskets, orders and the checkout flow",
        policy: "Payments",
        team: Team::Payments,
    },
    Service {
        name: "Payment gateway",
        description: "Card and wallet payments through the acquirers",
        policy: "Payments",
        team: Team::Payments,
    },
    Service {
        name: "iOS app",
        description: "Crash and performance alerts from the App Store build",
        policy: "Mobile",
        team: Team::Mobile,
    },
    Service {
        name: SAMPLE_SERVICE,
        description: "Alerts a demo visitor triggers from the outbox page",
        policy: "Sample alerts (demo)",
        team: Team::Platform,
    },
];

/// Past incidents: (service, summary, severity, the responder who acknowledged, the note they
/// left). Repeats are on purpose: "similar past incidents" finds them.
#[rustfmt::skip]
pub const PAST: &[(&str, &str, &str, &str, &str)] = &[
    ("Web frontend", "HTTP 5xx rate above 2% on www", "critical", "tom.hughes@contoso.example", "A bad deploy of the account pages; rolled back."),
    ("Kubernetes cluster", "Node not ready: node-3 (eu-west)", "error", "aisha.khan@contoso.example", "Kubelet out of memory; node drained and replaced."),
    ("Checkout API", "Checkout latency p99 above 2 s", "critical", "yui.tanaka@contoso.example", "Database connection pool exhausted after the promotion e-mail."),
    ("Payment gateway", "決済ゲートウェイのタイムアウト増加 (acquirer B)", "critical", "kenji.watanabe@contoso.example", "アクワイアラ B 側の障害。A に切り替えて復旧。"),
    ("iOS app", "Crash rate above 1% on iOS 18.1", "warning", "sam.rivera@contoso.example", "Crash in the image cache; fixed in 5.2.1."),
    ("Web frontend", "TLS certificate for www expires in 7 days", "warning", "daniel.novak@contoso.example", "Renewal job was failing on DNS; fixed and renewed."),
    ("Kubernetes cluster", "Disk usage above 90% on etcd-2", "error", "sofia.rossi@contoso.example", "Compaction had stopped; compacted and defragmented."),
    ("Checkout API", "Checkout error rate above 5% (eu-west)", "critical", "haruto.sato@contoso.example", "Feature flag for the new basket turned off; errors stopped."),
    ("Web frontend", "HTTP 5xx rate above 2% on www", "critical", "ben.carter@contoso.example", "CDN origin shield misconfigured; reverted the change."),
    ("Kubernetes cluster", "Node not ready: node-5 (ap-northeast)", "error", "chloe.martin@contoso.example", "Hypervisor maintenance by the provider; node came back."),
    ("Payment gateway", "Card authorisation failures above 3%", "critical", "mei.lin@contoso.example", "Acquirer A rotated its certificate; updated the trust store."),
    ("iOS app", "Launch time p95 above 3 s", "warning", "olga.petrova@contoso.example", "A synchronous analytics call at start; moved off the main thread."),
    ("Checkout API", "Checkout latency p99 above 2 s", "critical", "emma.wilson@contoso.example", "Slow query after the index was dropped; index restored."),
    ("Web frontend", "Login page error rate above 1%", "error", "tom.hughes@contoso.example", "Entra ID token endpoint throttled us; raised the client's retry back-off."),
    ("Kubernetes cluster", "Pods crash-looping: search-indexer", "error", "aisha.khan@contoso.example", "Config map typo from this morning's change; fixed."),
    ("Payment gateway", "決済ゲートウェイのタイムアウト増加 (acquirer A)", "critical", "yui.tanaka@contoso.example", "タイムアウト値の設定ミス。設定を戻して復旧。"),
    ("Checkout API", "Checkout error rate above 5% (ap-northeast)", "critical", "kenji.watanabe@contoso.example", "Redis failover took 4 minutes; tuned the sentinel timeouts."),
    ("iOS app", "Crash rate above 1% on iOS 18.2", "warning", "diego.morales@contoso.example", "Same image cache crash on a new code path; hotfix 5.2.2."),
    ("Web frontend", "HTTP 5xx rate above 2% on www", "critical", "sofia.rossi@contoso.example", "Autoscaling hit the node quota; raised the quota."),
    ("Kubernetes cluster", "Disk usage above 90% on etcd-1", "error", "daniel.novak@contoso.example", "Compaction again; added an alert on compaction age."),
    ("Checkout API", "Checkout latency p99 above 2 s", "critical", "lucas.silva@contoso.example", "Noisy neighbour on the database host; moved to a dedicated host."),
    ("Payment gateway", "Card authorisation failures above 3%", "critical", "ravi.patel@contoso.example", "3-D Secure provider outage; fell back to frictionless flow."),
    ("Kubernetes cluster", "Node not ready: node-3 (eu-west)", "error", "ben.carter@contoso.example", "Kubelet out of memory again; raised its reservation."),
    ("Web frontend", "TLS certificate for api expires in 7 days", "warning", "chloe.martin@contoso.example", "Renewed by hand; the renewal job now alerts on failure."),
];

/// The incidents open now: (service, summary, severity, minutes ago, acknowledged by).
#[rustfmt::skip]
pub const OPEN: &[(&str, &str, &str, i64, Option<&str>)] = &[
    ("Checkout API", "Checkout error rate above 5% (eu-west)", "critical", 35, Some("haruto.sato@contoso.example")),
    ("iOS app", "Crash rate above 2% on iOS 18.2", "warning", 120, Some("sam.rivera@contoso.example")),
    ("Kubernetes cluster", "Node not ready: node-7 (eu-west)", "error", 3, None),
];
