use super::*;

fn cat(apps: &str) -> Catalog {
    Catalog::from_toml(&format!("schema_version = 1\napps = [\n{apps}\n]\n")).unwrap()
}

fn cat_err(apps: &str) -> LoadError {
    Catalog::from_toml(&format!("schema_version = 1\napps = [\n{apps}\n]\n")).unwrap_err()
}

fn id_of<'a>(c: &'a Catalog, host: &str) -> Option<&'a str> {
    c.lookup(host.as_bytes()).map(|a| a.id.as_str())
}

#[test]
fn embedded_catalog_passes_its_lint_and_is_large() {
    let c = Catalog::embedded();
    // 808 apps before issue 16 (item 5) grew it; `cargo run -p cloudsight-cli --bin discover --
    // --list-apps | wc -l` counts them.
    assert!(c.len() >= 1200, "only {} apps", c.len());
    let categories: std::collections::HashSet<Category> =
        c.apps().iter().map(|a| a.category).collect();
    assert!(
        categories.len() >= 15,
        "only {} categories",
        categories.len()
    );
}

#[test]
fn embedded_catalog_scores_every_app_explicitly() {
    let value: toml::Value = toml::from_str(DEFAULT_CATALOG_TOML).unwrap();
    for app in value["apps"].as_array().unwrap() {
        assert!(
            app.get("risk").is_some(),
            "no explicit risk: {:?}",
            app.get("id")
        );
    }
}

#[test]
fn embedded_catalog_claims_no_shared_root() {
    let shared = [
        "google.com",
        "googleapis.com",
        "gstatic.com",
        "googleusercontent.com",
        "ggpht.com",
        "microsoft.com",
        "live.com",
        "windows.net",
        "core.windows.net",
        "apple.com",
        "cdn-apple.com",
        "amazonaws.com",
        "cloudfront.net",
        "akamaihd.net",
        "akamaized.net",
        "akamai.net",
        "edgekey.net",
        "edgesuite.net",
        "fastly.net",
        "azureedge.net",
        "trafficmanager.net",
        "cloudapp.net",
        "qq.com",
        "baidu.com",
        "yandex.ru",
        "yahoo.com",
        "intuit.com",
        "zoho.com",
        "zoho.eu",
        "mail.ru",
        "ibm.com",
        "sap.com",
        "oracle.com",
        "gvt1.com",
        "gvt2.com",
    ];
    let c = Catalog::embedded();
    for app in c.apps() {
        for d in &app.domains {
            assert!(
                !shared.contains(&d.as_str()),
                "{} claims shared root {d}",
                app.id
            );
        }
    }
}

#[test]
fn embedded_catalog_names_the_apps_in_real_captures() {
    let c = Catalog::embedded();
    let expect = [
        ("teams.microsoft.com", "ms-teams"),
        ("northeurope.notifications.teams.microsoft.com", "ms-teams"),
        ("chatsvcagg.svcs.teams.office.com", "ms-teams"),
        ("eu-api.asm.skype.com", "skype"),
        ("login.microsoftonline.com", "microsoft-entra-id"),
        ("outlook.office365.com", "outlook-web"),
        ("outlook.office.com", "outlook-web"),
        ("substrate.office.com", "microsoft-365"),
        ("onedrive.live.com", "onedrive"),
        ("contoso-my.sharepoint.com", "sharepoint"),
        ("zoomfr84zc.zoom.us", "zoom"),
        ("www3.zoom.us", "zoom"),
        ("ichnaea.netflix.com", "netflix"),
        ("art-1.nflximg.net", "netflix"),
        ("scontent-mxp1-1.cdninstagram.com", "instagram"),
        ("edge-mqtt.facebook.com", "facebook"),
        ("b.thumbs.redditmedia.com", "reddit"),
        ("preview.redd.it", "reddit"),
        ("www.google.com", "google-search"),
        ("google.com", "google-search"),
        ("mail.google.com", "gmail"),
        ("drive.google.com", "google-drive"),
        ("meet.google.com", "google-meet"),
        ("r3---sn-hju7enel.googlevideo.com", "youtube"),
        ("i.ytimg.com", "youtube"),
        ("raw.githubusercontent.com", "github"),
        ("www.wikipedia.org", "wikipedia"),
        ("upload.wikimedia.org", "wikipedia"),
        ("ocsp.digicert.com", "digicert"),
        ("r3.o.lencr.org", "lets-encrypt"),
        ("ocsp.pki.goog", "google-trust-services"),
        ("ocsp.sca1b.amazontrust.com", "amazon-trust-services"),
        ("geant.ocsp.sectigo.com", "sectigo"),
        ("download.windowsupdate.com", "windows-update"),
        ("account.xbox.com", "xbox"),
        ("accounts.ea.com", "ea"),
        ("assets.ubuntu.com", "ubuntu"),
        ("732231.ms.ok.ru", "ok-ru"),
        ("web.telegram.org", "telegram"),
        ("media.fmct2-1.fna.whatsapp.net", "whatsapp"),
        ("chatgpt.com", "chatgpt"),
        ("api.openai.com", "openai-api"),
        ("claude.ai", "claude"),
        ("gemini.google.com", "gemini"),
        (
            "bolt-prod-s3-eu-west-1.s3.eu-west-1.amazonaws.com",
            "amazon-s3",
        ),
        ("gql.twitch.tv", "twitch"),
        ("captive.apple.com", "apple-os-services"),
        ("p130-contacts.icloud.com", "icloud"),
        ("securepubads.g.doubleclick.net", "google-ads"),
    ];
    for (host, id) in expect {
        assert_eq!(id_of(&c, host), Some(id), "{host}");
    }
    for host in [
        "www.gstatic.com",
        "a1907.dscg.akamai.net",
        "captive.apple.com.edgekey.net",
    ] {
        assert_eq!(id_of(&c, host), None, "{host} must stay unknown");
    }
}

#[test]
fn label_boundary_is_respected() {
    let c = cat(
        r#"{ id = "slack", name = "Slack", category = "collaboration", risk = 9, domains = ["slack.com"] }"#,
    );
    assert_eq!(id_of(&c, "slack.com"), Some("slack"));
    assert_eq!(id_of(&c, "app.slack.com"), Some("slack"));
    assert_eq!(id_of(&c, "a.b.c.slack.com"), Some("slack"));
    assert_eq!(id_of(&c, "evilslack.com"), None);
    assert_eq!(id_of(&c, "slack.com.evil.net"), None);
    assert_eq!(id_of(&c, "lack.com"), None);
    assert_eq!(id_of(&c, "com"), None);
    assert_eq!(id_of(&c, ""), None);
    assert_eq!(id_of(&c, "."), None);
}

#[test]
fn case_and_trailing_dot_are_ignored() {
    let c = cat(
        r#"{ id = "slack", name = "Slack", category = "collaboration", domains = ["Slack.COM."] }"#,
    );
    assert_eq!(c.app("slack").unwrap().domains, ["slack.com"]);
    assert_eq!(id_of(&c, "SLACK.COM"), Some("slack"));
    assert_eq!(id_of(&c, "slack.com."), Some("slack"));
    assert_eq!(id_of(&c, "Files.Slack.Com."), Some("slack"));
    assert_eq!(id_of(&c, "slack.com.."), None);
}

#[test]
fn exact_host_beats_suffix_and_longest_suffix_wins() {
    let c = cat(r#"
      { id = "google", name = "Google", category = "productivity", risk = 7, domains = ["google.com"] },
      { id = "gmail", name = "Gmail", category = "webemail", risk = 8, domains = ["mail.google.com"] },
      { id = "inbox", name = "Inbox host", category = "webemail", risk = 8, hosts = ["x.mail.google.com"] },
    "#);
    assert_eq!(id_of(&c, "google.com"), Some("google"));
    assert_eq!(id_of(&c, "www.google.com"), Some("google"));
    assert_eq!(id_of(&c, "mail.google.com"), Some("gmail"));
    assert_eq!(id_of(&c, "a.mail.google.com"), Some("gmail"));
    assert_eq!(id_of(&c, "x.mail.google.com"), Some("inbox"));
    // an exact host does not act as a suffix
    assert_eq!(id_of(&c, "y.x.mail.google.com"), Some("gmail"));
    assert_eq!(
        c.lookup_index(b"mail.google.com").map(AppIndex::get),
        Some(1)
    );
    assert_eq!(
        c.app_at(c.lookup_index(b"x.mail.google.com").unwrap())
            .unwrap()
            .id,
        "inbox"
    );
}

#[test]
fn over_long_names_never_match() {
    let c =
        cat(r#"{ id = "ex", name = "Ex", category = "collaboration", domains = ["example.com"] }"#);
    let label = "a".repeat(63);
    let mut host = String::new();
    while host.len() + 64 + "example.com".len() <= MAX_NAME_LEN {
        host.push_str(&label);
        host.push('.');
    }
    host.push_str("example.com");
    assert!(host.len() <= MAX_NAME_LEN);
    assert_eq!(id_of(&c, &host), Some("ex"));
    let long = format!("{}.{}", "b".repeat(MAX_NAME_LEN - host.len()), host);
    assert!(long.len() > MAX_NAME_LEN);
    assert_eq!(id_of(&c, &long), None);
    assert_eq!(id_of(&c, &format!("{}.", host)), Some("ex"));
}

#[test]
fn non_ascii_and_binary_input_is_harmless() {
    let c =
        cat(r#"{ id = "ex", name = "Ex", category = "collaboration", domains = ["example.com"] }"#);
    assert_eq!(
        c.lookup(b"\xff\x00.example.com").map(|a| a.id.as_str()),
        Some("ex")
    );
    assert_eq!(
        c.lookup("bücher.example.com".as_bytes())
            .map(|a| a.id.as_str()),
        Some("ex")
    );
    assert_eq!(c.lookup(b"\xff\xfe"), None);
}

#[test]
fn errors_name_line_and_field() {
    let text = "schema_version = 1\napps = [\n  { id = \"a\", name = \"A\", category = \"crm\", domains = [\"a.example\"] },\n  { id = \"b\", name = \"B\", category = \"foo\", domains = [\"b.example\"] },\n]\n";
    let e = Catalog::from_toml(text).unwrap_err();
    assert_eq!(e.line, Some(4));
    assert_eq!(e.field.as_deref(), Some("apps[1].category"));
    assert_eq!(
        e.to_string(),
        "line 4: apps[1].category: unknown category 'foo'"
    );

    let e = cat_err(
        "{ id = \"a\", name = \"A\", category = \"crm\", domains = [\"a.example\"] },\n\n{ id = \"a\", name = \"A2\", category = \"crm\", domains = [\"b.example\"] }",
    );
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(5), Some("apps[1].id")),
        "{e}"
    );
    assert!(e.message.contains("duplicate id 'a'"), "{e}");

    let e = cat_err(
        "{ id = \"a\", name = \"A\", category = \"crm\", domains = [\"a.example\"] },\n{ id = \"b\", name = \"B\", category = \"crm\",\n  domains = [\"x.example\", \"A.Example\"] }",
    );
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(5), Some("apps[1].domains[1]")),
        "{e}"
    );
    assert!(e.message.contains("already claimed by app 'a'"), "{e}");

    let e = cat_err(
        "{ id = \"a\", name = \"A\", category = \"crm\", domains = [\"a.example\"], hosts = [\"a.example\"] }",
    );
    assert_eq!(e.field.as_deref(), Some("apps[0].hosts[0]"), "{e}");
    assert!(e.message.contains("this app"), "{e}");

    let e = cat_err(
        "{ id = \"a\", name = \"A\", category = \"crm\", risk = 11, domains = [\"a.example\"] }",
    );
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(3), Some("apps[0].risk")),
        "{e}"
    );

    let e = cat_err("{ id = \"a\", name = \"A\", category = \"crm\", domains = [\"co.uk\"] }");
    assert_eq!(e.field.as_deref(), Some("apps[0].domains[0]"), "{e}");
    assert!(e.message.contains("public suffix"), "{e}");
    cat(
        "{ id = \"a\", name = \"A\", category = \"hostingServices\", multi_tenant = true, domains = [\"vercel.app\"] }",
    );

    for bad in [
        "a..example",
        "-a.example",
        "a_.exa mple",
        "*.example.com",
        "",
        "a.example/x",
    ] {
        let e = cat_err(&format!(
            "{{ id = \"a\", name = \"A\", category = \"crm\", domains = [\"{bad}\"] }}"
        ));
        assert_eq!(e.field.as_deref(), Some("apps[0].domains[0]"), "{bad}: {e}");
    }
    for bad in ["", "Upper", "has space", "-lead", "trail-"] {
        let e = cat_err(&format!(
            "{{ id = \"{bad}\", name = \"A\", category = \"crm\", domains = [\"a.example\"] }}"
        ));
        assert_eq!(e.field.as_deref(), Some("apps[0].id"), "{bad}: {e}");
    }
    let e = cat_err("{ id = \"a\", name = \"A\", category = \"crm\" }");
    assert_eq!(e.field.as_deref(), Some("apps[0]"), "{e}");
}

#[test]
fn shape_errors_name_line_and_field() {
    let e = Catalog::from_toml("schema_version = 1\napps = [\n { id = \"a\", name = \"A\",\n   category = \"crm\", risk = \"high\", domains = [\"a.example\"] },\n]\n").unwrap_err();
    assert_eq!(e.line, Some(4), "{e}");
    assert_eq!(e.field.as_deref(), Some("apps[0].risk"), "{e}");

    let e = Catalog::from_toml("schema_version = 1\napps = [\n { id = \"a\", name = \"A\", category = \"crm\", domain = [\"a.example\"] },\n]\n").unwrap_err();
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.message.contains("domain"), "{e}");

    let e = Catalog::from_toml("schema_version = 2\napps = []\n").unwrap_err();
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(1), Some("schema_version")),
        "{e}"
    );

    let e = Catalog::from_toml("apps = []\n").unwrap_err();
    assert!(e.message.contains("schema_version"), "{e}");
}

#[test]
fn malformed_toml_and_json_give_lines() {
    let e = Catalog::from_toml("schema_version = 1\napps = [\n { id = \"a\" name = \"A\" },\n]\n")
        .unwrap_err();
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.message.starts_with("malformed TOML"), "{e}");

    let e =
        Catalog::from_json("{\n \"schema_version\": 1,\n \"apps\": [\n  {\"id\": \"a\",}\n ]\n}")
            .unwrap_err();
    assert_eq!(e.line, Some(4), "{e}");
    assert!(e.message.starts_with("malformed JSON"), "{e}");

    let e = Catalog::from_json("{\"schema_version\": 1, \"apps\": [\n{\"id\": \"a\", \"name\": \"A\", \"category\": \"crm\", \"risk\": 300, \"domains\": [\"a.example\"]}]}").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("apps[0].risk"), "{e}");

    let e = Catalog::from_json("{\"schema_version\": 1, \"apps\": [\n{\"id\": \"a\", \"name\": \"A\", \"category\": \"nope\", \"domains\": [\"a.example\"]}]}").unwrap_err();
    assert_eq!(e.to_string(), "apps[0].category: unknown category 'nope'");
}

#[test]
fn json_round_trip_preserves_the_catalog() {
    let c = Catalog::embedded();
    let back = Catalog::from_json(&c.to_json()).unwrap();
    assert_eq!(back.apps(), c.apps());
}

#[test]
fn json_lines_have_one_app_per_line() {
    let c = cat(r#"
      { id = "a", name = "A \"quoted\"", category = "crm", risk = 3, domains = ["a.example"], hosts = ["h.a2.example"] },
      { id = "b", name = "B", category = "generativeAi", risk = 9, domains = ["b.example"], risk_note = "n" },
    "#);
    let out = c.to_json_lines();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    let a: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(a["id"], "a");
    assert_eq!(a["name"], "A \"quoted\"");
    assert_eq!(a["category"], "crm");
    assert_eq!(a["risk"], 3);
    assert_eq!(a["domains"][0], "a.example");
    assert_eq!(a["hosts"][0], "h.a2.example");
    assert!(a.get("risk_note").is_none());
    let b: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(b["category"], "generativeAi");
    assert_eq!(b["risk_note"], "n");
}

#[test]
fn missing_risk_defaults_to_middle() {
    let c = cat(r#"{ id = "a", name = "A", category = "crm", domains = ["a.example"] }"#);
    assert_eq!(c.app("a").unwrap().risk, DEFAULT_RISK);
}

#[test]
fn extend_overrides_by_id_and_other_domains_win() {
    let base = cat(r#"
      { id = "a", name = "A", category = "crm", risk = 5, domains = ["a.example", "shared.example"] },
      { id = "b", name = "B", category = "crm", risk = 5, domains = ["b.example"] },
    "#);
    let custom = cat(r#"
      { id = "b", name = "B2", category = "security", risk = 9, domains = ["b2.example"] },
      { id = "c", name = "C", category = "crm", risk = 1, domains = ["shared.example"] },
    "#);
    let m = base.extend(&custom);
    assert_eq!(m.len(), 3);
    let ids: Vec<&str> = m.apps().iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(m.app("b").unwrap().name, "B2");
    assert_eq!(id_of(&m, "x.b2.example"), Some("b"));
    assert_eq!(
        id_of(&m, "b.example"),
        None,
        "replaced app's old domains are gone"
    );
    assert_eq!(id_of(&m, "shared.example"), Some("c"));
    assert_eq!(m.app("a").unwrap().domains, ["a.example"]);
    assert_eq!(id_of(&m, "a.example"), Some("a"));
    // the inputs are untouched
    assert_eq!(id_of(&base, "shared.example"), Some("a"));
    assert_eq!(Catalog::empty().extend(&base).apps(), base.apps());
    assert_eq!(base.extend(&Catalog::empty()).apps(), base.apps());
}

#[test]
fn registrable_domain_cases() {
    assert_eq!(
        registrable_domain("a.b.example.co.uk"),
        Some("example.co.uk")
    );
    assert_eq!(registrable_domain("example.co.uk"), Some("example.co.uk"));
    assert_eq!(registrable_domain("www.example.com."), Some("example.com"));
    assert_eq!(
        registrable_domain("WWW.Example.CO.UK"),
        Some("Example.CO.UK")
    );
    assert_eq!(
        registrable_domain("tenant.vercel.app"),
        Some("tenant.vercel.app")
    );
    assert_eq!(
        registrable_domain("x.tenant.github.io"),
        Some("tenant.github.io")
    );
    assert_eq!(
        registrable_domain("contoso.sharepoint.com"),
        Some("sharepoint.com")
    );
    assert_eq!(registrable_domain("co.uk"), None);
    assert_eq!(registrable_domain("com"), None);
    assert_eq!(registrable_domain("vercel.app"), None);
    assert_eq!(registrable_domain("192.168.1.1"), None);
    assert_eq!(registrable_domain("10.1"), None);
    assert_eq!(registrable_domain("::1"), None);
    assert_eq!(registrable_domain("[2001:db8::1]"), None);
    assert_eq!(registrable_domain("2001:db8::1"), None);
    assert_eq!(registrable_domain(""), None);
    assert_eq!(registrable_domain("."), None);
    assert_eq!(registrable_domain("a..example.com"), None);
    assert_eq!(registrable_domain(&"a.".repeat(200)), None);
    assert_eq!(
        registrable_domain("xn--bcher-kva.de"),
        Some("xn--bcher-kva.de")
    );
    assert_eq!(
        registrable_domain("shop.xn--bcher-kva.de"),
        Some("xn--bcher-kva.de")
    );
    assert_eq!(registrable_domain("www.bücher.de"), Some("bücher.de"));
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    fn naive(c: &Catalog, host: &[u8]) -> Option<String> {
        let host = host.strip_suffix(b".").unwrap_or(host);
        if host.is_empty() || host.len() > MAX_NAME_LEN {
            return None;
        }
        let name = host.to_ascii_lowercase();
        for app in c.apps() {
            if app.hosts.iter().any(|h| h.as_bytes() == name.as_slice()) {
                return Some(app.id.clone());
            }
        }
        let mut best: Option<(usize, &str)> = None;
        for app in c.apps() {
            for d in &app.domains {
                let d = d.as_bytes();
                let hit = name == d
                    || (name.len() > d.len()
                        && name.ends_with(d)
                        && name[name.len() - d.len() - 1] == b'.');
                if hit && best.is_none_or(|(len, _)| d.len() > len) {
                    best = Some((d.len(), &app.id));
                }
            }
        }
        best.map(|(_, id)| id.to_owned())
    }

    fn catalog() -> &'static Catalog {
        static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
        CATALOG.get_or_init(|| {
            let extra = cat(r#"
              { id = "g", name = "G", category = "productivity", domains = ["google.com"] },
              { id = "gx", name = "GX", category = "productivity", hosts = ["x.mail.google.com", "a.b"] },
              { id = "ab", name = "AB", category = "productivity", domains = ["b.a.b", "c.b"] },
            "#);
            Catalog::embedded().extend(&extra)
        })
    }

    fn host_strategy() -> impl Strategy<Value = String> {
        let known: Vec<String> = catalog()
            .apps()
            .iter()
            .flat_map(|a| a.domains.iter().chain(&a.hosts).cloned())
            .collect();
        let label = prop_oneof![
            "[a-z0-9-]{0,6}",
            Just("a".to_owned()),
            Just("b".to_owned()),
            Just("MAIL".to_owned()),
            Just("x".to_owned()),
            Just(String::new()),
        ];
        (
            proptest::collection::vec(label, 0..4),
            proptest::sample::select(known),
            any::<bool>(),
            any::<bool>(),
            0..4u8,
        )
            .prop_map(|(prefix, known, upper, dot, mangle)| {
                let mut s = prefix.join(".");
                if !s.is_empty() {
                    s.push('.');
                }
                match mangle {
                    0 => s.push_str(&known),
                    1 => s.push_str(&known[1..]),
                    2 => s.push_str(&format!("{known}x")),
                    _ => s.push_str(&known.replace('.', "")),
                }
                if upper {
                    s = s.to_uppercase();
                }
                if dot {
                    s.push('.');
                }
                s
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn lookup_equals_naive_on_near_misses(host in host_strategy()) {
            let c = catalog();
            let got = c.lookup(host.as_bytes()).map(|a| a.id.clone());
            prop_assert_eq!(got, naive(c, host.as_bytes()));
        }

        #[test]
        fn lookup_equals_naive_on_arbitrary_bytes(host in proptest::collection::vec(any::<u8>(), 0..300)) {
            let c = catalog();
            let got = c.lookup(&host).map(|a| a.id.clone());
            prop_assert_eq!(got, naive(c, &host));
        }

        #[test]
        fn registrable_domain_never_panics_and_is_a_suffix(host in "\\PC{0,80}") {
            if let Some(d) = registrable_domain(&host) {
                prop_assert!(host.trim_end_matches('.').ends_with(d) || host.ends_with(d));
                prop_assert!(!d.is_empty());
            }
        }
    }
}

#[test]
fn ids_names_and_categories_fit_the_c_record_fields() {
    // The C record copies the id into char[64], the name into char[96], the category into
    // char[48], NUL included: whatever the lint accepts must fit whole.
    let app = |id: &str, name: &str| {
        format!(
            "{{ id = \"{id}\", name = \"{name}\", category = \"crm\", domains = [\"a.example\"] }}"
        )
    };
    let id63 = "a".repeat(MAX_ID_LEN);
    assert_eq!(MAX_ID_LEN, 63);
    assert_eq!(cat(&app(&id63, "A")).apps()[0].id, id63);
    let e = cat_err(&app(&"a".repeat(64), "A"));
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(3), Some("apps[0].id")),
        "{e}"
    );

    let name95 = "N".repeat(MAX_APP_NAME_LEN);
    assert_eq!(MAX_APP_NAME_LEN, 95);
    assert_eq!(cat(&app("a", &name95)).apps()[0].name, name95);
    let e = cat_err(&app("a", &"N".repeat(96)));
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(3), Some("apps[0].name")),
        "{e}"
    );
    assert!(e.message.contains("longer than 95"), "{e}");
    // Bytes, not characters: 48 two-byte characters are 96 bytes.
    let e = cat_err(&app("a", &"é".repeat(48)));
    assert_eq!(e.field.as_deref(), Some("apps[0].name"), "{e}");

    assert_eq!(MAX_CATEGORY_LEN, 47);
    for c in Category::ALL {
        assert!(c.id().len() <= MAX_CATEGORY_LEN, "{}", c.id());
    }
    for a in Catalog::embedded().apps() {
        assert!(
            a.id.len() <= MAX_ID_LEN && a.name.len() <= MAX_APP_NAME_LEN,
            "{}",
            a.id
        );
    }
}

/// Narrow carve-outs: sibling products under a broad suffix get their own app, and hidden or
/// tunnelled traffic is never named as the trusted provider (real host names).
#[test]
fn precision_carve_outs_name_the_right_app() {
    let catalog = Catalog::embedded();
    for (host, want) in [
        ("cloudflare-ech.com", "ech-hidden-destination"),
        ("www.cloudflare.com", "cloudflare"),
        ("mask.icloud.com", "icloud-private-relay"),
        ("mask-h2.icloud.com", "icloud-private-relay"),
        ("p42-contacts.icloud.com", "icloud"),
        ("global.rel.tunnels.api.visualstudio.com", "ms-dev-tunnels"),
        ("usw2.rel.tunnels.api.visualstudio.com", "ms-dev-tunnels"),
        ("abc123-8080.usw2.devtunnels.ms", "ms-dev-tunnels"),
        ("contoso.visualstudio.com", "azure-devops"),
        ("contoso.cognitiveservices.azure.com", "azure-openai"),
        ("contoso.services.ai.azure.com", "azure-openai"),
        ("portal.azure.com", "azure"),
        ("vpn.proton.me", "proton-vpn"),
        ("pass.proton.me", "proton-pass"),
        ("mail.proton.me", "proton-mail"),
        ("config.edge.skype.com", "microsoft-edge-config"),
        ("web.skype.com", "skype"),
        ("webdir.online.lync.com", "skype-for-business"),
        ("firefly.adobe.com", "adobe-firefly"),
        ("acrobat.adobe.com", "adobe-acrobat"),
        ("www.adobe.com", "adobe-creative-cloud"),
    ] {
        let got = catalog.lookup(host.as_bytes()).map(|a| a.id.as_str());
        assert_eq!(got, Some(want), "{host}");
    }
    // Hidden and tunnelled traffic is not trusted.
    for id in [
        "ech-hidden-destination",
        "icloud-private-relay",
        "ms-dev-tunnels",
    ] {
        assert!(catalog.app(id).unwrap().risk <= 3, "{id}");
    }
}
