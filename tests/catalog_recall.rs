//! Recall and precision of the embedded catalog where a discovery report earns its keep (issue 16):
//! real host names of generative AI, VPN and anonymizer, remote access and RMM, paste and secret
//! sharing, file transfer, contact centre and security-vendor services, each with the app it must
//! name (and the instance, where the host carries one); shared CDN and cloud hosts that the new
//! entries must not claim; and a `# Source:` line above every app added for the issue.

use cloudsight::Catalog;

/// `(host, app id, instance)`: the host must name the app, and carry exactly that instance when
/// one is given (tenant-bearing hosts only; other hosts are not checked for an instance).
type Row = (&'static str, &'static str, Option<&'static str>);

const GENERATIVE_AI: &[Row] = &[
    ("api.githubcopilot.com", "github-copilot", None),
    ("api.individual.githubcopilot.com", "github-copilot", None),
    (
        "copilot-proxy.githubusercontent.com",
        "github-copilot",
        None,
    ),
    (
        "origin-tracker.githubusercontent.com",
        "github-copilot",
        None,
    ),
    ("models.github.ai", "github-models", None),
    ("sora.com", "sora", None),
    ("chatgpt.com", "chatgpt", None),
    ("api.deepseek.com", "deepseek-api", None),
    ("chat.deepseek.com", "deepseek", None),
    ("api.x.ai", "xai-api", None),
    ("grok.com", "grok", None),
    ("api.moonshot.cn", "moonshot-api", None),
    ("cloudcode-pa.googleapis.com", "gemini-code-assist", None),
    (
        "cloudaicompanion.googleapis.com",
        "gemini-code-assist",
        None,
    ),
    ("labs.google", "google-labs", None),
    ("ai.azure.com", "azure-ai-foundry", None),
    ("contoso.openai.azure.com", "azure-openai", Some("contoso")),
    ("copilotstudio.microsoft.com", "copilot-studio", None),
    ("q.us-east-1.amazonaws.com", "amazon-q-developer", None),
    ("integrate.api.nvidia.com", "nvidia-nim", None),
    ("dashscope.aliyuncs.com", "alibaba-model-studio", None),
    ("chat.z.ai", "z-ai", None),
    ("api.perplexity.ai", "perplexity", None),
    ("api.fireworks.ai", "fireworks-ai", None),
    ("api.cerebras.ai", "cerebras", None),
    ("queue.fal.run", "fal-ai", None),
    ("api.elevenlabs.io", "elevenlabs", None),
    ("api.deepgram.com", "deepgram", None),
    ("api.assemblyai.com", "assemblyai", None),
    ("app.heygen.com", "heygen", None),
    ("ideogram.ai", "ideogram", None),
    ("klingai.com", "kling-ai", None),
    ("api.smith.langchain.com", "langchain", None),
    ("api.wandb.ai", "wandb", None),
    ("contoso.app.n8n.cloud", "n8n", Some("contoso")),
    ("contoso-be.glean.com", "glean", Some("contoso")),
    ("www.genspark.ai", "genspark", None),
    ("api.granola.ai", "granola", None),
    ("api.zed.dev", "zed", None),
    ("d1.api.augmentcode.com", "augment-code", None),
    ("app.devin.ai", "devin", None),
    ("ampcode.com", "amp-code", None),
    ("civitai.com", "civitai", None),
    ("janitorai.com", "janitor-ai", None),
];

const VPN_AND_ANONYMIZERS: &[Row] = &[
    (
        "www.privateinternetaccess.com",
        "private-internet-access",
        None,
    ),
    ("api.mullvad.net", "mullvad", None),
    ("windscribe.com", "windscribe", None),
    ("api.ipvanish.com", "ipvanish", None),
    ("api.protonvpn.ch", "proton-vpn", None),
    ("engage.cloudflareclient.com", "cloudflare-warp", None),
    (
        "zero-trust-client.cloudflareclient.com",
        "cloudflare-warp",
        None,
    ),
    (
        "contoso.cloudflareaccess.com",
        "cloudflare-zero-trust",
        Some("contoso"),
    ),
    ("vpn.mozilla.org", "mozilla-vpn", None),
    ("dist.torproject.org", "tor-project", None),
    ("geti2p.net", "i2p", None),
    ("psiphon.ca", "psiphon", None),
    ("getlantern.org", "lantern", None),
    ("www.vpngate.net", "vpn-gate", None),
    ("www.croxyproxy.com", "croxyproxy", None),
    ("contoso.gpcloudservice.com", "prisma-access", None),
    ("mask.icloud.com", "icloud-private-relay", None),
    ("hola.org", "hola", None),
];

const REMOTE_ACCESS: &[Row] = &[
    ("router15.teamviewer.com", "teamviewer", None),
    ("relay-8f0c3a41.net.anydesk.com", "anydesk", None),
    (
        "instance-abc123-relay.screenconnect.com",
        "connectwise",
        None,
    ),
    ("my.splashtop.com", "splashtop", None),
    ("rs-ny.rustdesk.com", "rustdesk", None),
    ("app.ninjarmm.com", "ninjaone", None),
    ("agent-api.atera.com", "atera", None),
    ("concord.centrastage.net", "datto-rmm", None),
    ("rmm.datto.com", "datto-rmm", None),
    ("www.am.remote.management", "n-able", None),
    ("contoso.syncromsp.com", "syncro", Some("contoso")),
    (
        "contoso.beyondtrustcloud.com",
        "beyondtrust",
        Some("contoso"),
    ),
    (
        "remotedesktop-pa.googleapis.com",
        "chrome-remote-desktop",
        None,
    ),
    (
        "remoteassistance.support.services.microsoft.com",
        "ms-quick-assist",
        None,
    ),
    ("kessel-ws.parsec.app", "parsec", None),
    ("controlplane.tailscale.com", "tailscale", None),
    ("derp1.tailscale.com", "tailscale", None),
    ("log.tailscale.io", "tailscale", None),
    ("my.zerotier.com", "zerotier", None),
    ("contoso.twingate.com", "twingate", Some("contoso")),
    ("api.netbird.io", "netbird", None),
    ("abc123def.lhr.life", "localhost-run", Some("abc123def")),
    (
        "rnxyz-203-0-113-7.a.free.pinggy.link",
        "pinggy",
        Some("rnxyz-203-0-113-7"),
    ),
    ("abc.ngrok-free.app", "ngrok", Some("abc")),
    ("assist.zoho.com", "zoho-assist", None),
    ("secure.logmeinrescue.com", "logmein-rescue", None),
    ("api.gotoresolve.com", "goto-resolve", None),
    ("www.ultraviewer.net", "ultraviewer", None),
    ("ammyy.com", "ammyy-admin", None),
    ("www.todesk.com", "todesk", None),
];

const PASTE_AND_SECRETS: &[Row] = &[
    ("pastebin.com", "pastebin", None),
    ("hastebin.com", "hastebin", None),
    ("privatebin.net", "privatebin", None),
    ("0bin.net", "zerobin", None),
    ("dpaste.org", "dpaste-org", None),
    ("dpaste.com", "dpaste-com", None),
    ("rentry.co", "rentry", None),
    ("controlc.com", "controlc", None),
    ("termbin.com", "termbin", None),
    ("paste.rs", "paste-rs", None),
    ("paste.ubuntu.com", "ubuntu-pastebin", None),
    ("paste.debian.net", "debian-paste", None),
    ("onetimesecret.com", "onetimesecret", None),
    ("eu.onetimesecret.com", "onetimesecret", None),
    ("pwpush.com", "password-pusher", None),
    ("privnote.com", "privnote", None),
    ("yopass.se", "yopass", None),
    ("scrt.link", "scrt-link", None),
    ("telegra.ph", "telegraph", None),
    ("justpaste.it", "justpaste-it", None),
    ("paste.ee", "paste-ee", None),
];

const FILE_TRANSFER: &[Row] = &[
    ("wetransfer.com", "wetransfer", None),
    ("fromsmash.com", "smash", None),
    ("store1.gofile.io", "gofile", None),
    ("file.io", "file-io", None),
    ("transfer.sh", "transfer-sh", None),
    ("mega.nz", "mega", None),
    ("api.pcloud.com", "pcloud", None),
    ("tresorit.com", "tresorit", None),
    ("wormhole.app", "wormhole-app", None),
    ("krakenfiles.com", "krakenfiles", None),
    ("0x0.st", "0x0-st", None),
    ("tmpfiles.org", "tmpfiles", None),
    ("files.catbox.moe", "catbox", None),
    ("contoso.files.com", "files-com", Some("contoso")),
    ("ipfs.io", "ipfs-gateway", None),
    ("gateway.pinata.cloud", "pinata", None),
    ("contoso.mypinata.cloud", "pinata", Some("contoso")),
    ("arweave.net", "arweave", None),
];

const CONTACT_CENTRE: &[Row] = &[
    ("app.five9.com", "five9", None),
    ("login.mypurecloud.com", "genesys-cloud", None),
    ("apps.usw2.pure.cloud", "genesys-cloud", None),
    ("api.mypurecloud.ie", "genesys-cloud", None),
    ("na1.nice-incontact.com", "nice-cxone", None),
    ("contoso.mytalkdesk.com", "talkdesk", Some("contoso")),
    ("api.talkdeskapp.com", "talkdesk", None),
    ("contoso.my.connect.aws", "amazon-connect", Some("contoso")),
    (
        "participant.connect.us-east-1.amazonaws.com",
        "amazon-connect",
        None,
    ),
    ("flex.twilio.com", "twilio-flex", None),
    ("api.twilio.com", "twilio", None),
    ("contoso.gladly.com", "gladly", None),
    ("contoso.kustomerapp.com", "kustomer", Some("contoso")),
    ("app.8x8.com", "8x8", None),
    ("dialpad.com", "dialpad", None),
    ("app.aircall.io", "aircall", None),
];

const SECURITY_VENDORS: &[Row] = &[
    ("falcon.crowdstrike.com", "crowdstrike", None),
    ("ts01-b.cloudsink.net", "crowdstrike", None),
    ("usea1-008.sentinelone.net", "sentinelone", None),
    ("gateway.zscalerthree.net", "zscaler", None),
    ("contoso.goskope.com", "netskope", None),
    ("contoso.okta.com", "okta", Some("contoso")),
    ("api-1a2b3c4d.duosecurity.com", "duo", Some("1a2b3c4d")),
    ("my.1password.com", "1password", None),
    ("vault.bitwarden.com", "bitwarden", None),
    ("defense-prod05.conferdeploy.net", "carbon-black", None),
    ("content.carbonblack.io", "carbon-black", None),
    ("mx0a-00123401.pphosted.com", "proofpoint", None),
    ("eu-api.mimecast.com", "mimecast", None),
    ("us.api.insight.rapid7.com", "rapid7", None),
    ("cloud.tenable.com", "tenable", None),
    ("qualysguard.qg2.apps.qualys.com", "qualys", None),
    ("app.wiz.io", "wiz", None),
    ("g1.p4.webrootcloudav.com", "webroot", None),
    ("contoso.cybereason.net", "cybereason", Some("contoso")),
    ("api.snyk.io", "snyk", None),
    ("resolver1.opendns.com", "cisco-umbrella", None),
    ("update.huntress.io", "huntress", None),
    ("contoso.secretservercloud.com", "delinea", Some("contoso")),
    ("contoso.api.identitynow.com", "sailpoint", Some("contoso")),
    ("contoso.lacework.net", "lacework", Some("contoso")),
    ("www.virustotal.com", "virustotal", None),
];

/// Tenant-bearing hosts of mainstream SaaS added with the risky categories.
const SAAS_TENANTS: &[Row] = &[
    ("contoso.csod.com", "cornerstone", Some("contoso")),
    ("contoso.docebosaas.com", "docebo", Some("contoso")),
    ("contoso.chargebee.com", "chargebee", Some("contoso")),
    ("contoso-test.chargebee.com", "chargebee", Some("contoso")),
    ("contoso.zulipchat.com", "zulip", Some("contoso")),
    ("contoso.app.link", "branch", Some("contoso")),
    ("contoso.alationcloud.com", "alation", Some("contoso")),
    ("relay.firefox.com", "firefox-relay", None),
    ("www.yopmail.com", "yopmail", None),
];

/// Shared CDN, cloud and platform hosts: no new entry may claim them. `None` = no app at all;
/// `Some(id)` = the app that owned the name before the issue-16 growth.
const NOT_CLAIMED: &[(&str, Option<&str>)] = &[
    ("d1234abcdef8.cloudfront.net", None),
    ("contoso.azureedge.net", None),
    ("a1907.dscg.akamai.net", None),
    ("e1234.a.akamaiedge.net", None),
    ("ajax.googleapis.com", None),
    ("ec2.us-east-1.amazonaws.com", None),
    ("connect.us-east-1.amazonaws.com", None),
    ("support.services.microsoft.com", None),
    ("www.microsoft.com", None),
    ("www.zoho.com", None),
    ("storage.googleapis.com", Some("google-cloud-storage")),
    ("s3.amazonaws.com", Some("amazon-s3")),
    ("contoso-backups.s3.amazonaws.com", Some("amazon-s3")),
    ("contoso.blob.core.windows.net", Some("azure-blob-storage")),
    ("www.googleapis.com", Some("google-apis")),
    ("oss-cn-hangzhou.aliyuncs.com", Some("alibaba-cloud")),
    ("api.github.com", Some("github")),
    ("objects.githubusercontent.com", Some("github")),
    ("raw.githubusercontent.com", Some("github")),
    ("cdn.jsdelivr.net", Some("jsdelivr")),
    ("www.cloudflare.com", Some("cloudflare")),
    ("www.mozilla.org", Some("mozilla")),
    ("www.firefox.com", Some("mozilla")),
    ("www.ubuntu.com", Some("ubuntu")),
    ("www.datto.com", Some("datto")),
    ("crm.zoho.com", Some("zoho-crm")),
    ("api.openai.com", Some("openai-api")),
    ("aistudio.google.com", Some("google-ai-studio")),
    ("contoso.services.ai.azure.com", Some("azure-openai")),
];

fn check(catalog: &Catalog, table: &str, rows: &[Row]) -> Vec<String> {
    let mut wrong = Vec::new();
    for &(host, want, instance) in rows {
        let got = catalog.lookup(host.as_bytes()).map(|a| a.id.as_str());
        if got != Some(want) {
            wrong.push(format!("{table}: {host}: want {want}, got {got:?}"));
            continue;
        }
        if let Some(inst) = instance {
            let got = catalog.instance(host);
            if got.as_deref() != Some(inst) {
                wrong.push(format!(
                    "{table}: {host}: want instance {inst}, got {got:?}"
                ));
            }
        }
    }
    wrong
}

#[test]
fn real_hosts_of_risky_categories_name_their_apps() {
    let catalog = Catalog::embedded();
    let mut wrong = Vec::new();
    for (table, rows) in [
        ("generative AI", GENERATIVE_AI),
        ("VPN and anonymizers", VPN_AND_ANONYMIZERS),
        ("remote access and RMM", REMOTE_ACCESS),
        ("paste and secret sharing", PASTE_AND_SECRETS),
        ("file transfer", FILE_TRANSFER),
        ("contact centre", CONTACT_CENTRE),
        ("security vendors", SECURITY_VENDORS),
        ("SaaS tenants", SAAS_TENANTS),
    ] {
        wrong.extend(check(&catalog, table, rows));
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn shared_cdn_and_cloud_hosts_are_not_claimed() {
    let catalog = Catalog::embedded();
    let mut wrong = Vec::new();
    for &(host, want) in NOT_CLAIMED {
        let got = catalog.lookup(host.as_bytes()).map(|a| a.id.as_str());
        if got != want {
            wrong.push(format!("{host}: want {want:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn anonymizers_tunnels_and_paste_sites_score_low() {
    let catalog = Catalog::embedded();
    let at_most = |id: &str, max: u8| {
        let app = catalog.app(id).unwrap_or_else(|| panic!("no app {id}"));
        assert!(app.risk <= max, "{id}: risk {} > {max}", app.risk);
        assert!(
            app.risk_note.is_some(),
            "{id}: low score without a risk_note"
        );
    };
    for id in [
        "tor-project",
        "i2p",
        "psiphon",
        "lantern",
        "ultrasurf",
        "vpn-gate",
        "croxyproxy",
        "hola",
        "yopmail",
        "maildrop",
    ] {
        at_most(id, 1);
    }
    for id in [
        "serveo",
        "localhost-run",
        "pinggy",
        "tunnelmole",
        "bore-pub",
        "privatebin",
        "rentry",
        "termbin",
        "0x0-st",
    ] {
        at_most(id, 2);
    }
    for id in [
        "mullvad",
        "windscribe",
        "hidemyass",
        "onetimesecret",
        "password-pusher",
        "chrome-remote-desktop",
        "ammyy-admin",
    ] {
        at_most(id, 4);
    }
}

/// Every app added for issue 16 sits under a `# Source:` comment of its group. A group starts at
/// a section header (`# ---- ... (issue 16)`) or at the first comment after an app line, and
/// needs a `# Source:` line before its first app.
#[test]
fn every_issue_16_app_names_its_source() {
    let text = cloudsight::catalog::DEFAULT_CATALOG_TOML;
    let mut in_issue = false;
    let mut sourced = false;
    let mut after_app = false;
    let mut missing = Vec::new();
    let mut count = 0;
    for line in text.lines().map(str::trim) {
        if line.starts_with("# ----") {
            in_issue = line.contains("(issue 16)");
            sourced = false;
            after_app = false;
        } else if line.starts_with('#') {
            if after_app {
                sourced = false;
                after_app = false;
            }
            if line.starts_with("# Source:") {
                sourced = true;
            }
        } else if in_issue && line.starts_with("{ id = ") {
            count += 1;
            after_app = true;
            if !sourced {
                missing.push(line.chars().take(60).collect::<String>());
            }
        }
    }
    assert!(count >= 400, "only {count} apps under issue-16 sections");
    assert!(missing.is_empty(), "apps without a source: {missing:#?}");
}
