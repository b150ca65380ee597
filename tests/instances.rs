//! Instances from host names: the embedded catalog's `instances` patterns and the public suffix
//! list's private section, over many real host names (tenant-bearing and not).

use cloudsight::Catalog;

/// Host names that carry an instance, and the instance.
const WITH: &[(&str, &str)] = &[
    ("contoso.sharepoint.com", "contoso"),
    ("contoso-my.sharepoint.com", "contoso"),
    ("contoso-admin.sharepoint.com", "contoso"),
    ("fabrikam.sharepoint.com", "fabrikam"),
    ("acme.slack.com", "acme"),
    ("acme.enterprise.slack.com", "acme"),
    ("acme.atlassian.net", "acme"),
    ("acme.my.salesforce.com", "acme"),
    ("acme--uat.sandbox.my.salesforce.com", "acme--uat"),
    ("acme.lightning.force.com", "acme"),
    ("acme.my.site.com", "acme"),
    ("acme.file.force.com", "acme"),
    ("acme.service-now.com", "acme"),
    ("acmedev.service-now.com", "acmedev"),
    ("acme.okta.com", "acme"),
    ("acme.oktapreview.com", "acme"),
    ("acme.okta-emea.com", "acme"),
    ("acme.zendesk.com", "acme"),
    ("acme.freshdesk.com", "acme"),
    ("acme.freshservice.com", "acme"),
    ("acme.webex.com", "acme"),
    ("acme.my.webex.com", "acme"),
    ("acme.zoom.us", "acme"),
    ("acme.app.box.com", "acme"),
    ("acme.ent.box.com", "acme"),
    ("acme.box.com", "acme"),
    ("myorg-account1.snowflakecomputing.com", "myorg-account1"),
    ("xy12345.us-east-1.snowflakecomputing.com", "xy12345"),
    ("xy12345.us-east-2.aws.snowflakecomputing.com", "xy12345"),
    (
        "adb-1234567890123456.7.azuredatabricks.net",
        "adb-1234567890123456",
    ),
    ("acme.cloud.databricks.com", "acme"),
    ("acme.gcp.databricks.com", "acme"),
    ("my-bucket.s3.amazonaws.com", "my-bucket"),
    ("my-bucket.s3.us-west-2.amazonaws.com", "my-bucket"),
    ("my-bucket.s3.eu-central-1.amazonaws.com", "my-bucket"),
    ("my-bucket.s3-us-west-2.amazonaws.com", "my-bucket"),
    ("my-bucket.s3-external-1.amazonaws.com", "my-bucket"),
    ("my-bucket.s3-accelerate.amazonaws.com", "my-bucket"),
    ("acmestorage.blob.core.windows.net", "acmestorage"),
    ("acme.openai.azure.com", "acme"),
    ("acme.visualstudio.com", "acme"),
    ("acme.auth0.com", "acme"),
    ("acme.us.auth0.com", "acme"),
    ("acme.eu.auth0.com", "acme"),
    ("acme.onelogin.com", "acme"),
    ("d-1234567890.awsapps.com", "d-1234567890"),
    ("acme.monday.com", "acme"),
    ("acme.sentry.io", "acme"),
    ("acme.looker.com", "acme"),
    ("acme.cloud.looker.com", "acme"),
    ("acme.egnyte.com", "acme"),
    ("acme.sharefile.com", "acme"),
    ("acme.sharefile.eu", "acme"),
    ("acme.bamboohr.com", "acme"),
    ("acme-store.myshopify.com", "acme-store"),
    ("octocat.github.io", "octocat"),
    ("my-app.herokuapp.com", "my-app"),
    ("my-app.vercel.app", "my-app"),
    ("my-site.netlify.app", "my-site"),
    ("my-proj.firebaseapp.com", "my-proj"),
    ("my-proj.web.app", "my-proj"),
    ("my-proj-default-rtdb.firebaseio.com", "my-proj"),
    ("my-proj.appspot.com", "my-proj"),
    ("my-proj.uc.r.appspot.com", "my-proj"),
    ("acme.notion.site", "acme"),
    ("acme.pagerduty.com", "acme"),
    ("acme.eu.pagerduty.com", "acme"),
    ("my-app.azurewebsites.net", "my-app"),
    ("my-app.scm.azurewebsites.net", "my-app"),
    ("myblog.blogspot.com", "myblog"),
    ("myblog.wordpress.com", "myblog"),
    ("myblog.tumblr.com", "myblog"),
    ("mynews.substack.com", "mynews"),
    ("group.gitlab.io", "group"),
    ("user.wixsite.com", "user"),
    ("my-site.webflow.io", "my-site"),
    ("my-app.glitch.me", "my-app"),
    ("abc123.ngrok-free.app", "abc123"),
    ("random-words.trycloudflare.com", "random-words"),
    ("my-app.onrender.com", "my-app"),
    ("my-app.fly.dev", "my-app"),
    ("my-app.up.railway.app", "my-app"),
    ("my-site.pages.dev", "my-site"),
    ("worker.acme.workers.dev", "acme"),
    ("abcdefghijkl.supabase.co", "abcdefghijkl"),
    ("my-app.ondigitalocean.app", "my-app"),
    ("my-space.nyc3.digitaloceanspaces.com", "my-space"),
    ("my-bucket.s3.wasabisys.com", "my-bucket"),
    ("my-bucket.storage.googleapis.com", "my-bucket"),
    ("acme.statuspage.io", "acme"),
    ("acme.grafana.net", "acme"),
    ("acme.splunkcloud.com", "acme"),
    ("http-inputs-acme.splunkcloud.com", "acme"),
    ("acme.jamfcloud.com", "acme"),
    ("acme.1password.com", "acme"),
    ("acme.1password.eu", "acme"),
    ("api-1a2b3c4d.duosecurity.com", "1a2b3c4d"),
    ("acme.teamwork.com", "acme"),
    ("acme.harvestapp.com", "acme"),
    ("acme.typeform.com", "acme"),
    ("acme.instructure.com", "acme"),
    ("acme.blackboard.com", "acme"),
    ("acme.moodlecloud.com", "acme"),
    ("1234567.app.netsuite.com", "1234567"),
    ("acme.cloud.mattermost.com", "acme"),
    ("acme.coupahost.com", "acme"),
    ("acme.domo.com", "acme"),
    ("acme.app.opsgenie.com", "acme"),
    // Platforms the catalog does not know: the public suffix list's private section.
    ("d111111abcdef8.cloudfront.net", "d111111abcdef8"),
    ("my-app.azurestaticapps.net", "my-app"),
    ("foo.readthedocs.io", "foo"),
    ("my-app.surge.sh", "my-app"),
    ("acme.myshopify.com", "acme"),
];

/// Host names that carry no instance.
const WITHOUT: &[&str] = &[
    "www.dropbox.com",
    "slack.com",
    "app.slack.com",
    "files.slack.com",
    "edgeapi.slack.com",
    "wss-primary.slack.com",
    "api.slack.com",
    "status.slack.com",
    "hooks.slack.com",
    "a.slack-edge.com",
    "sharepoint.com",
    "www.sharepoint.com",
    "static.sharepoint.com",
    "login.microsoftonline.com",
    "www.office.com",
    "teams.microsoft.com",
    "www.atlassian.com",
    "api.atlassian.com",
    "status.atlassian.net",
    "login.salesforce.com",
    "www.salesforce.com",
    "test.salesforce.com",
    "login.okta.com",
    "www.okta.com",
    "developer.okta.com",
    "support.okta.com",
    "www.zendesk.com",
    "support.zendesk.com",
    "www.webex.com",
    "idbroker.webex.com",
    "settings.webex.com",
    "zoom.us",
    "www.zoom.us",
    "us02web.zoom.us",
    "us05web.zoom.us",
    "api.zoom.us",
    "marketplace.zoom.us",
    "log.zoom.us",
    "app.box.com",
    "www.box.com",
    "api.box.com",
    "upload.box.com",
    "account.box.com",
    "app.snowflake.com",
    "ocsp.snowflakecomputing.com",
    "sfc-repo.snowflakecomputing.com",
    "accounts.cloud.databricks.com",
    "s3.amazonaws.com",
    "s3.us-west-2.amazonaws.com",
    "dev.azure.com",
    "app.vssps.visualstudio.com",
    "manage.auth0.com",
    "cdn.auth0.com",
    "auth.monday.com",
    "www.monday.com",
    "sentry.io",
    "us.sentry.io",
    "o123.ingest.sentry.io",
    "www.github.com",
    "github.com",
    "api.github.com",
    "www.github.io",
    "www.herokuapp.com",
    "vercel.com",
    "www.netlify.com",
    "app.netlify.com",
    "www.notion.so",
    "www.notion.site",
    "www.pagerduty.com",
    "events.pagerduty.com",
    "www.google.com",
    "mail.google.com",
    "drive.google.com",
    "www.youtube.com",
    "www.wikipedia.org",
    "en.wikipedia.org",
    "www.example.com",
    "example.co.uk",
    "www.bbc.co.uk",
    "www.amazon.com",
    "aws.amazon.com",
    "www.linkedin.com",
    "www.facebook.com",
    "api.openai.com",
    "chatgpt.com",
    "www.dropbox.com",
    "dl.dropboxusercontent.com",
    "www.wordpress.com",
    "public-api.wordpress.com",
    "www.tumblr.com",
    "substack.com",
    "www.1password.com",
    "my.1password.com",
    "start.1password.com",
    "www.typeform.com",
    "admin.typeform.com",
    "community.canvaslms.com",
    "signin.aws.amazon.com",
    "static.awsapps.com",
];

#[test]
fn instances_of_real_host_names() {
    let catalog = Catalog::embedded();
    let mut right = 0;
    let mut wrong = Vec::new();
    for &(host, want) in WITH {
        match catalog.instance(host) {
            Some(got) if got == want => right += 1,
            got => wrong.push(format!("{host}: want {want}, got {got:?}")),
        }
    }
    let mut invented = Vec::new();
    for &host in WITHOUT {
        if let Some(got) = catalog.instance(host) {
            invented.push(format!("{host}: invented {got}"));
        }
    }
    eprintln!(
        "instances: {right}/{} tenant-bearing host names right, {} of {} without one invented",
        WITH.len(),
        invented.len(),
        WITHOUT.len()
    );
    assert!(invented.is_empty(), "{invented:#?}");
    assert!(
        right * 10 >= WITH.len() * 9,
        "{right}/{} right: {wrong:#?}",
        WITH.len()
    );
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn instance_rules_cover_at_least_forty_apps() {
    let catalog = Catalog::embedded();
    let n = catalog
        .apps()
        .iter()
        .filter(|a| !a.instances.is_empty())
        .count();
    assert!(n >= 40, "{n} apps have instance rules");
}

#[test]
fn instance_lookup_ignores_case_and_trailing_dot() {
    let catalog = Catalog::embedded();
    assert_eq!(
        catalog.instance("Contoso-MY.SharePoint.com.").as_deref(),
        Some("contoso")
    );
}

fn load_err(apps: &str) -> String {
    let text = format!("schema_version = 1\napps = [\n{apps}\n]\n");
    Catalog::from_toml(&text).unwrap_err().to_string()
}

#[test]
fn bad_instance_rules_are_refused_with_their_line() {
    let ok = r#"{ id = "x", name = "X", category = "collaboration", domains = ["x.com"], instances = ["{instance}.x.com", "{instance}.*.x.com"], instance_reserved = ["api", "us0*"] }"#;
    let c = Catalog::from_toml(&format!("schema_version = 1\napps = [\n{ok}\n]\n")).unwrap();
    assert_eq!(c.instance("acme.x.com").as_deref(), Some("acme"));
    assert_eq!(c.instance("acme.eu.x.com").as_deref(), Some("acme"));
    assert_eq!(c.instance("api.x.com"), None);
    assert_eq!(c.instance("us02web.x.com"), None);
    // Round trip through JSON keeps the rules.
    let back = Catalog::from_json(&c.to_json()).unwrap();
    assert_eq!(back.instance("acme.x.com").as_deref(), Some("acme"));

    for (rule, why) in [
        (r#"instances = ["x.com"]"#, "placeholder"),
        (
            r#"instances = ["{instance}.{instance}.x.com"]"#,
            "placeholder",
        ),
        (r#"instances = ["{instance}.y.com"]"#, "domains"),
        (r#"instances = ["{instance}.*"]"#, "literal"),
        (r#"instances = ["{instance}..x.com"]"#, "empty label"),
        (r#"instance_reserved = ["a.b"]"#, "single host label"),
    ] {
        let e = load_err(&format!(
            "  {{ id = \"x\", name = \"X\", category = \"collaboration\", domains = [\"x.com\"],\n    {rule} }}"
        ));
        assert!(e.contains("line 4"), "{rule}: {e}");
        assert!(e.contains(why), "{rule}: {e}");
        assert!(e.contains("apps[0].instance"), "{rule}: {e}");
    }
}
