//! The storage layer: the same cases on SQLite and on a real PostgreSQL server.

use ctibridge::store::{Backend, Store};

use crate::dual_db_test;
use crate::support::db::TestDb;

dual_db_test!(
    fresh_database_is_not_ready_until_migrated,
    |db: TestDb| async move {
        let store = Store::connect(&db.url, 2).await.expect("connect");
        let before = store.readiness().await.expect("database answers");
        assert_eq!(before.applied_migrations, 0);
        assert!(before.expected_migrations >= 1);
        assert!(!before.is_ready());

        store.migrate().await.expect("migrate");
        let after = store.readiness().await.unwrap();
        assert!(after.is_ready(), "{after:?}");
        assert_eq!(after.applied_migrations, before.expected_migrations);
    }
);

dual_db_test!(migrating_twice_changes_nothing, |db: TestDb| async move {
    let store = db.store().await;
    store.put_setting("k", "v").await.unwrap();
    store.migrate().await.expect("second migrate is a no-op");
    let again = Store::connect_and_migrate(&db.url, 1)
        .await
        .expect("another instance migrates");
    assert!(again.readiness().await.unwrap().is_ready());
    assert_eq!(again.setting("k").await.unwrap().unwrap().value, "v");
});

dual_db_test!(backend_is_chosen_by_url, |db: TestDb| async move {
    let store = db.store().await;
    let expected = if db.url.starts_with("sqlite:") {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };
    assert_eq!(store.backend(), expected);
    assert_eq!(store.readiness().await.unwrap().backend, expected);
});

dual_db_test!(settings_round_trip_and_replace, |db: TestDb| async move {
    let store = db.store().await;
    assert_eq!(store.setting("salesforce.refresh_token").await.unwrap(), None);

    store
        .put_setting("salesforce.refresh_token", "first")
        .await
        .unwrap();
    let first = store.setting("salesforce.refresh_token").await.unwrap().unwrap();
    assert_eq!(first.value, "first");
    assert!(
        first.updated_at_ms > 1_600_000_000_000,
        "stored as Unix milliseconds"
    );

    store
        .put_setting("salesforce.refresh_token", "second")
        .await
        .unwrap();
    assert_eq!(
        store
            .setting("salesforce.refresh_token")
            .await
            .unwrap()
            .unwrap()
            .value,
        "second"
    );

    // Compare-and-set: only the holder of the current value may replace it.
    assert!(
        !store
            .replace_setting("salesforce.refresh_token", "first", "stale")
            .await
            .unwrap()
    );
    assert!(
        store
            .replace_setting("salesforce.refresh_token", "second", "third")
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .setting("salesforce.refresh_token")
            .await
            .unwrap()
            .unwrap()
            .value,
        "third"
    );

    assert!(store.delete_setting("salesforce.refresh_token").await.unwrap());
    assert!(!store.delete_setting("salesforce.refresh_token").await.unwrap());
    assert_eq!(store.setting("salesforce.refresh_token").await.unwrap(), None);
});

dual_db_test!(
    concurrent_compare_and_set_has_one_winner,
    |db: TestDb| async move {
        let store = db.store().await;
        store.put_setting("token", "v0").await.unwrap();
        let attempts = (0..8).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .replace_setting("token", "v0", &format!("v{}", i + 1))
                    .await
                    .unwrap()
            })
        });
        let mut winners = 0;
        for attempt in attempts {
            if attempt.await.unwrap() {
                winners += 1;
            }
        }
        assert_eq!(winners, 1);
    }
);

dual_db_test!(text_survives_exactly, |db: TestDb| async move {
    let store = db.store().await;
    let tricky = "ñandú 'quoted' \"double\" -- not a comment; DROP TABLE settings; 😀";
    store.put_setting("tricky", tricky).await.unwrap();
    assert_eq!(store.setting("tricky").await.unwrap().unwrap().value, tricky);
});

#[tokio::test]
async fn unreachable_postgres_is_a_clear_error() {
    let err = Store::connect("postgres://nobody:hunter2@127.0.0.1:1/none", 1)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("cannot connect to the database"), "{message}");
    assert!(!message.contains("hunter2"), "password leaked: {message}");
}

#[tokio::test]
async fn sqlite_file_is_created_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested-new.db");
    assert!(!path.exists());
    let store = Store::connect_and_migrate(&format!("sqlite://{}", path.display()), 1)
        .await
        .unwrap();
    assert!(store.readiness().await.unwrap().is_ready());
    assert!(path.exists());
}

dual_db_test!(
    a_database_written_by_a_newer_version_is_refused_at_start_up,
    |db: TestDb| async move {
        let store = db.store().await;
        // Telephony state of a newer shape: the core store refuses to read it.
        let core = ctibridge::store::core::CoreStore::new(store.clone(), None);
        core.load().await.expect("our own state loads");
        sqlx::query("UPDATE core_meta SET value = 99 WHERE name = 'state_version'")
            .execute(store.pool())
            .await
            .unwrap();
        let refused = core.load().await.unwrap_err().to_string();
        assert!(
            refused.contains("newer version of ctibridge") && refused.contains("state version 99"),
            "{refused}"
        );
        let mut config = ctibridge::config::Config::default();
        config.server.bind = "127.0.0.1:0".parse().unwrap();
        config.database.url = db.url.clone();
        let start = ctibridge::startup::Application::build(config).await;
        let error = start.err().expect("refused at start-up").to_string();
        assert!(error.contains("newer version of ctibridge"), "{error}");

        // A migration this binary does not know: a newer schema.
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', TRUE, $1, 0)",
        )
        .bind(vec![0u8; 48])
        .execute(store.pool())
        .await
        .unwrap();
        let refused = store.migrate().await.unwrap_err().to_string();
        assert!(
            refused.contains("newer version of ctibridge") && refused.contains("9999"),
            "{refused}"
        );
    }
);

#[tokio::test]
async fn a_second_instance_on_the_same_postgresql_is_refused_until_the_first_stops() {
    let db = TestDb::postgres().await;
    let config = || {
        let mut config = ctibridge::config::Config::default();
        config.server.bind = "127.0.0.1:0".parse().unwrap();
        config.database.url = db.url.clone();
        config
    };
    let first = ctibridge::startup::Application::build(config())
        .await
        .expect("first instance");
    let second = ctibridge::startup::Application::build(config()).await;
    let error = second.err().expect("the second is refused").to_string();
    assert!(
        error.contains("another ctibridge instance runs the telephony core"),
        "{error}"
    );
    // The first stops (its lock goes with its connection): now another may start.
    let handle = first.handle();
    let running = tokio::spawn(first.run_until_stopped());
    handle.stop(true).await;
    running.await.unwrap().unwrap();
    ctibridge::startup::Application::build(config())
        .await
        .expect("starts once the first is gone");
}
