//! The exact cache's switches and lifetime: off per workspace, purged per workspace,
//! expired after its TTL; and the daily token limit, the one quota that counts tokens.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{create_key, lab_extract, Server};
use serde_json::json;

async fn patch(s: &Server, admin: &str, ws: &str, body: serde_json::Value) {
    let (status, v) = s.patch_workspace(admin, ws, &body).await;
    assert_eq!(status, 200, "{v}");
}

async fn hit(s: &Server, message: &str) -> bool {
    let (status, _, v) = s
        .post("/chat", None, &lab_extract("tenant_pro", message))
        .await;
    assert_eq!(status, 200, "{v}");
    v["cache_hit"].as_bool().unwrap()
}

#[tokio::test]
async fn requests_differing_only_in_top_k_or_min_p_do_not_share_a_cache_entry() {
    let s = Server::demo();
    let sampled = |extra: serde_json::Value| {
        let mut b = lab_extract("tenant_pro", "narrow sampling");
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let mut seen = Vec::new();
    for extra in [
        json!({"top_k": 5}),
        json!({"top_k": 5}),
        json!({"top_k": 6}),
        json!({}),
        json!({"top_k": 5, "min_p": 0.1}),
        json!({"top_k": 6}),
    ] {
        let (status, _, v) = s.post("/chat", None, &sampled(extra)).await;
        assert_eq!(status, 200, "{v}");
        seen.push(v["cache_hit"].as_bool().unwrap());
    }
    assert_eq!(seen, [false, true, false, false, false, true]);
}

#[tokio::test]
async fn a_workspace_with_caching_off_never_hits_and_turning_it_back_on_serves_new_entries() {
    let s = Server::demo();
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    patch(&s, &admin, "tenant_pro", json!({"cache_enabled": false})).await;
    assert!(!hit(&s, "uncached").await);
    assert!(!hit(&s, "uncached").await, "nothing was stored while off");
    patch(&s, &admin, "tenant_pro", json!({"cache_enabled": true})).await;
    assert!(!hit(&s, "uncached").await);
    assert!(hit(&s, "uncached").await);
}

#[tokio::test]
async fn purging_a_workspace_drops_its_entries_and_only_its_own() {
    let s = Server::demo();
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    hit(&s, "purge me").await;
    let (_, _, ent) = s
        .post("/chat", None, &lab_extract("tenant_enterprise", "purge me"))
        .await;
    assert_eq!(ent["cache_hit"], false);
    let (status, _, v) = s
        .post(
            "/admin/workspaces/tenant_pro/cache/purge",
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["purged"], 1);
    assert!(!hit(&s, "purge me").await, "purged");
    let (_, _, ent) = s
        .post("/chat", None, &lab_extract("tenant_enterprise", "purge me"))
        .await;
    assert_eq!(ent["cache_hit"], true, "another workspace's entry survives");
}

#[tokio::test]
async fn an_entry_is_not_served_after_its_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ttl.toml");
    std::fs::write(
        &cfg,
        include_str!("../src/config/demo.toml").replace("ttl_seconds = 86400", "ttl_seconds = 1"),
    )
    .unwrap();
    let s = Server::start_in(
        &dir.path().join("data"),
        &["--demo", "--config", cfg.to_str().unwrap()],
    );
    assert!(!hit(&s, "short lived").await);
    assert!(hit(&s, "short lived").await);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(!hit(&s, "short lived").await, "expired");
}

#[tokio::test]
async fn the_daily_token_limit_turns_requests_away_with_its_own_code() {
    let s = Server::demo();
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    patch(&s, &admin, "tenant_pro", json!({"daily_token_limit": 1200})).await;
    let mut codes = Vec::new();
    for i in 0..20 {
        let (status, headers, v) = s
            .post(
                "/chat",
                None,
                &lab_extract("tenant_pro", &format!("ticket {i}")),
            )
            .await;
        if status == 429 {
            assert!(headers.contains_key("retry-after"));
        }
        codes.push(if status == 200 {
            "ok".to_owned()
        } else {
            v["error"]["code"].as_str().unwrap().to_owned()
        });
    }
    assert!(codes.contains(&"ok".to_owned()), "{codes:?}");
    assert_eq!(
        codes.last().unwrap(),
        "tokens_per_day_exceeded",
        "{codes:?}"
    );
    let (_, ws) = s
        .get_json("/admin/workspaces/tenant_pro", Some(&admin))
        .await;
    assert!(ws["today"]["tokens"].as_u64().unwrap() <= 1200, "{ws}");
}

#[tokio::test]
async fn outside_the_demo_ready_needs_a_key() {
    let s = Server::start(&[]);
    assert_eq!(s.get("/ready", None).await.0, 401);
    let key = create_key(&s.dir, "default", "user");
    let (status, v) = s.get_json("/ready", Some(&key)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "ready");
    assert_eq!(v["checks"]["database"], true);
}
