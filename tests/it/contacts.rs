//! Contacts: the CLAVESF cases of the Neotel manual ("Configuración para llamadas entrantes"),
//! phone-keyed databases, concurrent calls for one new key, E.164 normalisation, CSV import and
//! the `ctibridge contacts` command. Database cases run on SQLite and PostgreSQL.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ctibridge::contacts::import::{ImportError, ImportOptions, RowProblem, import_csv};
use ctibridge::contacts::phone::{Caller, is_private, normalize};
use ctibridge::contacts::{
    ContactDirectory, ContactResolver, ContactsError, InboundLookup, KeyKind, NewContactDatabase, Region,
};
use ctibridge::store::Store;
use indicatif::ProgressBar;

use crate::dual_db_test;
use crate::support::db::TestDb;

const SALES: i64 = 10;
const SALES_CRM: i64 = 3;

fn ar() -> Region {
    "AR".parse().unwrap()
}

async fn directory(db: &TestDb) -> ContactDirectory {
    // More connections than the default so concurrent calls really run in parallel.
    let store = Store::connect_and_migrate(&db.url, 16).await.expect("store");
    ContactDirectory::new(store, ar())
}

/// A directory with database SALES (keyed by `kind`, CRM SALES_CRM).
async fn directory_with(db: &TestDb, kind: KeyKind) -> ContactDirectory {
    let dir = directory(db).await;
    dir.create_database(&NewContactDatabase {
        id: SALES,
        name: "Ventas".into(),
        key_kind: kind,
        crm_id: SALES_CRM,
    })
    .await
    .expect("create database");
    dir
}

fn call(data: Option<&str>, ani: Option<&str>) -> InboundLookup {
    InboundLookup {
        data: data.map(str::to_owned),
        ani: ani.map(str::to_owned),
        database_id: SALES,
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/contacts")
        .join(name)
}

async fn import_fixture(
    dir: &ContactDirectory,
    name: &str,
    options: ImportOptions,
) -> Result<ctibridge::contacts::import::ImportReport, ImportError> {
    let file = std::fs::File::open(fixture(name)).unwrap();
    import_csv(dir, SALES, file, options, &ProgressBar::hidden()).await
}

// --- the manual's CLAVESF cases ----------------------------------------------------------------

dual_db_test!(key_found_returns_the_existing_contact, |db: TestDb| async move {
    let dir = directory_with(&db, KeyKind::Clave1).await;
    import_fixture(&dir, "good.csv", ImportOptions::default())
        .await
        .unwrap();
    let existing = dir.contact_by_key(SALES, "31987456").await.unwrap().unwrap();

    let found = dir
        .contacto_insert_salesforce(&call(Some("31987456"), Some("+5491155559999")))
        .await
        .unwrap();

    assert!(!found.created);
    assert_eq!(found.contact_id, existing.id);
    assert_eq!(found.clavesf.to_string(), format!("{}-31987456", existing.id));
    assert!(found.clavesf.should_search());
    assert_eq!(found.crm_key, "31987456");
    assert_eq!((found.database_id, found.crm_id), (SALES, SALES_CRM));
    assert_eq!(dir.count_contacts(SALES).await.unwrap(), 4, "nothing inserted");
    // The stored phone is the imported one, not the caller's.
    let again = dir.contact(existing.id).await.unwrap().unwrap();
    assert_eq!(again.phone.as_deref(), Some("+541143215678"));
});

dual_db_test!(
    key_not_found_inserts_it_into_iddatabase,
    |db: TestDb| async move {
        let dir = directory_with(&db, KeyKind::Clave1).await;

        let first = dir
            .contacto_insert_salesforce(&call(Some(" 555 "), Some("011 4321-5678")))
            .await
            .unwrap();
        assert!(first.created);
        assert_eq!(first.clavesf.to_string(), format!("{}-555", first.contact_id));
        assert_eq!(first.crm_key, "555");
        assert_eq!(first.crm_id, SALES_CRM);
        let stored = dir.contact(first.contact_id).await.unwrap().unwrap();
        assert_eq!(stored.database_id, SALES);
        assert_eq!(stored.clave_1.as_deref(), Some("555"));
        assert_eq!(
            stored.phone.as_deref(),
            Some("+541143215678"),
            "ANI stored in E.164"
        );

        // The next call with the same DATA finds it.
        let second = dir
            .contacto_insert_salesforce(&call(Some("555"), None))
            .await
            .unwrap();
        assert!(!second.created);
        assert_eq!(second.contact_id, first.contact_id);
        assert_eq!(dir.count_contacts(SALES).await.unwrap(), 1);
    }
);

dual_db_test!(
    empty_data_creates_a_contact_keyed_by_its_own_id,
    |db: TestDb| async move {
        let dir = directory_with(&db, KeyKind::Clave1).await;
        let mut ids = Vec::new();
        for data in [None, Some(""), Some("   ")] {
            let m = dir
                .contacto_insert_salesforce(&call(data, Some("011 4321-5678")))
                .await
                .unwrap();
            assert!(m.created);
            // CLAVESF "idContacto-": the adapter must not search.
            assert_eq!(m.clavesf.to_string(), format!("{}-", m.contact_id));
            assert!(!m.clavesf.should_search());
            // DATA is filled with the new contact's id.
            assert_eq!(m.crm_key, m.contact_id.to_string());
            let stored = dir.contact(m.contact_id).await.unwrap().unwrap();
            assert_eq!(stored.clave_1, Some(m.contact_id.to_string()));
            assert_eq!(stored.phone.as_deref(), Some("+541143215678"));
            ids.push(m.contact_id);
        }
        ids.dedup();
        assert_eq!(ids.len(), 3, "a new contact each call, as the manual allows");
        // Its id now works as a key.
        let by_id = dir
            .contacto_insert_salesforce(&call(Some(&ids[0].to_string()), None))
            .await
            .unwrap();
        assert!(!by_id.created);
        assert_eq!(by_id.contact_id, ids[0]);
    }
);

dual_db_test!(
    private_number_still_gets_a_contact_to_categorize,
    |db: TestDb| async move {
        // The manual's test case: the IVR tree puts the ANI in DATA; a private caller leaves DATA
        // empty, and the call still needs a contact id to be categorized and scheduled.
        let dir = directory_with(&db, KeyKind::Clave1).await;
        for ani in [None, Some("anonymous"), Some("Private"), Some("0000000")] {
            let m = dir
                .contacto_insert_salesforce(&call(Some(""), ani))
                .await
                .unwrap();
            assert!(m.created, "{ani:?}");
            assert_eq!(m.clavesf.to_string(), format!("{}-", m.contact_id));
            let stored = dir.contact(m.contact_id).await.unwrap().unwrap();
            assert_eq!(stored.phone, None, "no number for a private caller");
        }
        assert_eq!(dir.count_contacts(SALES).await.unwrap(), 4);
    }
);

// --- databases keyed by phone ----------------------------------------------------------------

dual_db_test!(
    phone_database_finds_contacts_by_the_callers_number,
    |db: TestDb| async move {
        let dir = directory_with(&db, KeyKind::Phone).await;

        let first = dir
            .contacto_insert_salesforce(&call(None, Some("011 4321-5678")))
            .await
            .unwrap();
        assert!(first.created);
        assert_eq!(
            first.clavesf.to_string(),
            format!("{}-+541143215678", first.contact_id)
        );
        let stored = dir.contact(first.contact_id).await.unwrap().unwrap();
        assert_eq!(stored.clave_1.as_deref(), Some("+541143215678"));
        assert_eq!(stored.phone.as_deref(), Some("+541143215678"));

        // Same number, written differently: same contact.
        for ani in [
            "+54 11 4321-5678",
            "(011) 4321 5678",
            "tel:+541143215678",
            "sip:+541143215678@10.0.0.1;user=phone",
        ] {
            let m = dir
                .contacto_insert_salesforce(&call(None, Some(ani)))
                .await
                .unwrap();
            assert!(!m.created, "{ani}");
            assert_eq!(m.contact_id, first.contact_id, "{ani}");
        }
        // A private caller who typed their number in the IVR: DATA read as a number.
        let typed = dir
            .contacto_insert_salesforce(&call(Some("1143215678"), Some("restricted")))
            .await
            .unwrap();
        assert_eq!(typed.contact_id, first.contact_id);

        // A private caller with nothing else: a new contact, CLAVESF "id-".
        let private = dir
            .contacto_insert_salesforce(&call(None, Some("anonymous")))
            .await
            .unwrap();
        assert!(private.created);
        assert_eq!(private.clavesf.to_string(), format!("{}-", private.contact_id));
        assert_eq!(dir.count_contacts(SALES).await.unwrap(), 2);
    }
);

dual_db_test!(unknown_database_is_an_error, |db: TestDb| async move {
    let dir = directory_with(&db, KeyKind::Clave1).await;
    let lookup = InboundLookup {
        data: Some("1".into()),
        ani: None,
        database_id: 99,
    };
    let err = dir.contacto_insert_salesforce(&lookup).await.unwrap_err();
    assert!(matches!(err, ContactsError::UnknownDatabase(99)), "{err:?}");
    assert_eq!(err.to_string(), "contact database 99 does not exist");
});

dual_db_test!(databases_are_created_once_and_listed, |db: TestDb| async move {
    let dir = directory_with(&db, KeyKind::Clave1).await;
    let again = dir
        .create_database(&NewContactDatabase {
            id: SALES,
            name: "Otra".into(),
            key_kind: KeyKind::Phone,
            crm_id: 1,
        })
        .await
        .unwrap_err();
    assert!(matches!(again, ContactsError::DatabaseExists(SALES)), "{again:?}");
    let unnamed = dir
        .create_database(&NewContactDatabase {
            id: 11,
            name: " ".into(),
            key_kind: KeyKind::Phone,
            crm_id: 1,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(unnamed, ContactsError::InvalidDatabase(_)),
        "{unnamed:?}"
    );
    dir.create_database(&NewContactDatabase {
        id: 2,
        name: "Soporte".into(),
        key_kind: KeyKind::Phone,
        crm_id: 1,
    })
    .await
    .unwrap();
    dir.contacto_insert_salesforce(&call(Some("A-1"), None))
        .await
        .unwrap();

    let listed = dir.list_databases().await.unwrap();
    let summary: Vec<(i64, &str, KeyKind, i64, i64)> = listed
        .iter()
        .map(|l| {
            (
                l.database.id,
                l.database.name.as_str(),
                l.database.key_kind,
                l.database.crm_id,
                l.contacts,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (2, "Soporte", KeyKind::Phone, 1, 0),
            (SALES, "Ventas", KeyKind::Clave1, SALES_CRM, 1)
        ]
    );
});

// --- concurrency -------------------------------------------------------------------------------

dual_db_test!(
    concurrent_calls_for_one_new_key_create_one_contact,
    |db: TestDb| async move {
        let dir = Arc::new(directory_with(&db, KeyKind::Clave1).await);
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let dir = Arc::clone(&dir);
                tokio::spawn(async move {
                    dir.contacto_insert_salesforce(&call(
                        Some("NEW-KEY"),
                        Some(&format!("011 4321-56{i:02}")),
                    ))
                    .await
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap().expect("every call gets the contact"));
        }
        let id = results[0].contact_id;
        assert!(
            results.iter().all(|m| m.contact_id == id),
            "one contact id for all"
        );
        assert!(
            results
                .iter()
                .all(|m| m.clavesf.to_string() == format!("{id}-NEW-KEY"))
        );
        assert_eq!(results.iter().filter(|m| m.created).count(), 1, "one creator");
        assert_eq!(dir.count_contacts(SALES).await.unwrap(), 1, "one row");
    }
);

dual_db_test!(
    concurrent_calls_with_one_new_number_create_one_contact,
    |db: TestDb| async move {
        let dir = Arc::new(directory_with(&db, KeyKind::Phone).await);
        let formats = [
            "011 4321-5678",
            "+541143215678",
            "(011) 4321 5678",
            "+54 11 4321-5678",
        ];
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let dir = Arc::clone(&dir);
                let ani = formats[i % formats.len()];
                tokio::spawn(async move { dir.contacto_insert_salesforce(&call(None, Some(ani))).await })
            })
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.unwrap().unwrap().contact_id);
        }
        ids.dedup();
        assert_eq!(ids.len(), 1);
        assert_eq!(dir.count_contacts(SALES).await.unwrap(), 1);
    }
);

dual_db_test!(
    concurrent_calls_without_data_create_one_contact_each,
    |db: TestDb| async move {
        let dir = Arc::new(directory_with(&db, KeyKind::Clave1).await);
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let dir = Arc::clone(&dir);
                tokio::spawn(async move {
                    dir.contacto_insert_salesforce(&call(None, Some("anonymous")))
                        .await
                })
            })
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            let m = task.await.unwrap().unwrap();
            assert_eq!(m.crm_key, m.contact_id.to_string());
            ids.push(m.contact_id);
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 32);
        assert_eq!(dir.count_contacts(SALES).await.unwrap(), 32);
        for id in ids {
            let stored = dir.contact(id).await.unwrap().unwrap();
            assert_eq!(stored.clave_1, Some(id.to_string()));
        }
    }
);

dual_db_test!(
    a_failing_insert_does_not_fail_the_other_calls,
    |db: TestDb| async move {
        // On SQLite concurrent inserts share a transaction; one that cannot be written (its
        // database vanished behind the directory's cache) must not take the others down.
        let dir = Arc::new(directory_with(&db, KeyKind::Clave1).await);
        dir.create_database(&NewContactDatabase {
            id: 20,
            name: "Temporal".into(),
            key_kind: KeyKind::Clave1,
            crm_id: 1,
        })
        .await
        .unwrap();
        dir.require_database(20).await.unwrap();
        sqlx::query("DELETE FROM contact_databases WHERE id = 20")
            .execute(dir.store().pool())
            .await
            .unwrap();
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let dir = Arc::clone(&dir);
                let database_id = if i % 4 == 0 { 20 } else { SALES };
                tokio::spawn(async move {
                    let lookup = InboundLookup {
                        data: Some(format!("K{i}")),
                        ani: None,
                        database_id,
                    };
                    dir.contacto_insert_salesforce(&lookup).await
                })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            let result = task.await.unwrap();
            if i % 4 == 0 {
                assert!(matches!(result, Err(ContactsError::Store(_))), "{i}: {result:?}");
            } else {
                assert!(result.unwrap().created, "{i}");
            }
        }
        assert_eq!(dir.count_contacts(SALES).await.unwrap(), 24);
    }
);

// --- phone numbers -----------------------------------------------------------------------------

#[test]
fn national_numbers_are_read_in_the_default_country() {
    assert_eq!(normalize("011 4321-5678", ar()).unwrap(), "+541143215678");
    assert_eq!(normalize("11 4321 5678", ar()).unwrap(), "+541143215678");
    let us: Region = "us".parse().unwrap();
    assert_eq!(normalize("(650) 253-0000", us).unwrap(), "+16502530000");
    assert_eq!(normalize("650.253.0000", us).unwrap(), "+16502530000");
}

#[test]
fn international_numbers_keep_their_country() {
    assert_eq!(normalize("+54 9 11 5555-1234", ar()).unwrap(), "+5491155551234");
    assert_eq!(normalize("+16502530000", ar()).unwrap(), "+16502530000");
    assert_eq!(normalize("+34 912 345 678", ar()).unwrap(), "+34912345678");
    assert_eq!(normalize("  +54-11-4321-5678  ", ar()).unwrap(), "+541143215678");
}

#[test]
fn garbage_is_not_a_phone_number() {
    for bad in [
        "",
        "abc",
        "12",
        "+54 11",
        "1-800-FLOWERS",
        "++",
        "99999999999999999999",
    ] {
        let err = normalize(bad, ar()).unwrap_err();
        assert_eq!(err.input, bad);
        assert!(!err.reason.is_empty());
    }
}

#[test]
fn anonymous_callers_are_recognised() {
    for ani in [
        "",
        "anonymous",
        "ANONYMOUS",
        "private",
        "restricted",
        "unknown",
        "unavailable",
        "000",
        "sip:anonymous@anonymous.invalid",
    ] {
        assert!(is_private(ani), "{ani:?}");
        assert_eq!(Caller::from_ani(Some(ani), ar()), Caller::Private);
    }
    assert_eq!(Caller::from_ani(None, ar()), Caller::Private);
    assert_eq!(
        Caller::from_ani(Some("011 4321-5678"), ar()),
        Caller::Number("+541143215678".into())
    );
    assert_eq!(
        Caller::from_ani(Some("1234"), ar()),
        Caller::Unrecognised("1234".into()),
        "an internal extension is not private"
    );
}

#[test]
fn default_country_must_be_a_region() {
    use ctibridge::config::{Config, FlagOverrides};
    use std::io::Write;

    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(b"[contacts]\ndefault_country = \"XX\"\n").unwrap();
    let env = figment::providers::Env::prefixed("CTIBRIDGE_CONTACTS_TEST_UNSET_");
    let err = Config::load_from(Some(file.path()), env, &FlagOverrides::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("contacts.default_country"), "{err}");
    assert!(err.contains("`XX` is not a region code"), "{err}");

    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(b"[contacts]\ndefault_country = \"es\"\n").unwrap();
    let env = figment::providers::Env::prefixed("CTIBRIDGE_CONTACTS_TEST_UNSET_");
    let config = Config::load_from(Some(file.path()), env, &FlagOverrides::default()).unwrap();
    assert_eq!(config.contacts.default_country.code(), "ES");
    assert_eq!(Config::default().contacts.default_country.code(), "AR");
}

// --- CSV import --------------------------------------------------------------------------------

dual_db_test!(
    import_loads_a_good_file_and_updates_on_reimport,
    |db: TestDb| async move {
        let dir = directory_with(&db, KeyKind::Clave1).await;
        let report = import_fixture(&dir, "good.csv", ImportOptions::default())
            .await
            .unwrap();
        assert_eq!((report.imported, report.updated), (4, 0));
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        assert!(report.applied);

        let ana = dir.contact_by_key(SALES, "31987456").await.unwrap().unwrap();
        assert_eq!(ana.name.as_deref(), Some("Ana Gómez"));
        assert_eq!(ana.phone.as_deref(), Some("+541143215678"));
        assert_eq!(ana.extra["email"], "ana@example.com");
        assert_eq!(ana.extra["segment"], "gold");
        let carla = dir.contact_by_key(SALES, "27333444").await.unwrap().unwrap();
        assert_eq!(carla.phone, None);
        assert!(!carla.extra.contains_key("segment"), "empty cells are left out");
        let bruno = dir.contact_by_key(SALES, "20111222").await.unwrap().unwrap();
        assert!(bruno.extra.is_empty());
        assert_eq!(
            dir.contact_by_key(SALES, "30555666")
                .await
                .unwrap()
                .unwrap()
                .phone
                .as_deref(),
            Some("+541140001000")
        );

        let again = import_fixture(&dir, "good.csv", ImportOptions::default())
            .await
            .unwrap();
        assert_eq!((again.imported, again.updated), (0, 4));
        assert_eq!(dir.count_contacts(SALES).await.unwrap(), 4);
        let ana_again = dir.contact_by_key(SALES, "31987456").await.unwrap().unwrap();
        assert_eq!(ana_again.id, ana.id, "same contact, same id");
    }
);

dual_db_test!(
    import_reports_the_files_own_line_numbers,
    |db: TestDb| async move {
        // Line 1 is the header. CRLF line ends (spreadsheet exports), a blank line and a quoted
        // name spanning two lines must not shift the reported lines.
        let dir = directory_with(&db, KeyKind::Clave1).await;
        for newline in ["\n", "\r\n"] {
            let text = [
                "clave_1,phone,name",          // 1
                "2001,011 4321-5678,Uno",      // 2
                "2002,abc,Dos",                // 3
                "",                            // 4
                "2003,12,Tres",                // 5
                "2004,011 4321-5679,\"Cuatro", // 6
                "segunda linea\"",             // 7
                "2005,xyz,Cinco",              // 8
            ]
            .join(newline);
            let report = import_csv(
                &dir,
                SALES,
                text.as_bytes(),
                ImportOptions::default(),
                &ProgressBar::hidden(),
            )
            .await
            .unwrap();
            let lines: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();
            assert_eq!(
                lines,
                vec![3, 5, 8],
                "line ends {newline:?}: {:?}",
                report.rejected
            );
        }
    }
);

dual_db_test!(
    import_refuses_a_quote_left_open_nul_bytes_and_oversize_fields_with_their_lines,
    |db: TestDb| async move {
        let dir = directory_with(&db, KeyKind::Clave1).await;
        let huge = "x".repeat(20 * 1024 * 1024);
        let text = [
            "clave_1,phone,name".to_owned(),          // 1
            "3001,011 4321-5678,Uno".to_owned(),      // 2
            "30\u{0}02,011 4321-5679,Dos".to_owned(), // 3
            format!("3003,011 4321-5680,{huge}"),     // 4
            "3004,011 4321-5681,\"Cuatro".to_owned(), // 5: the quote is never closed
            "3005,011 4321-5682,Cinco".to_owned(),    // 6
            "3006,011 4321-5683,Seis".to_owned(),     // 7
        ]
        .join("\n");
        let report = import_csv(
            &dir,
            SALES,
            text.as_bytes(),
            ImportOptions::default(),
            &ProgressBar::hidden(),
        )
        .await
        .unwrap();
        assert_eq!(report.imported, 1, "{:?}", report.rejected);
        let rejected: Vec<(u64, &RowProblem)> =
            report.rejected.iter().map(|r| (r.line, &r.problem)).collect();
        assert_eq!(
            rejected,
            vec![
                (3, &RowProblem::ControlCharacter { column: 1 }),
                (
                    4,
                    &RowProblem::TooLong {
                        column: 3,
                        length: huge.len()
                    }
                ),
                (5, &RowProblem::UnclosedQuote { swallowed: 2 }),
            ]
        );
        assert!(
            report.rejected[2]
                .to_string()
                .starts_with("line 5: a quote opened on this line is never closed"),
            "{}",
            report.rejected[2]
        );
        assert_eq!(dir.count_contacts(SALES).await.unwrap(), 1);
    }
);

dual_db_test!(
    import_rejects_bad_rows_with_line_numbers,
    |db: TestDb| async move {
        let dir = directory_with(&db, KeyKind::Clave1).await;
        let report = import_fixture(&dir, "invalid_phones.csv", ImportOptions::default())
            .await
            .unwrap();
        assert_eq!(report.imported, 2);
        let lines: Vec<String> = report.rejected.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            vec![
                "line 3: invalid phone \"abc\": contains letters".to_owned(),
                lines[1].clone(),
                "line 5: empty clave_1".to_owned(),
                "line 6: 2 fields, the header has 3".to_owned(),
                "line 7: duplicate key \"1001\" (first on line 2)".to_owned(),
            ]
        );
        assert!(
            lines[1].starts_with("line 4: invalid phone \"12\": "),
            "{}",
            lines[1]
        );
        assert!(matches!(
            report.rejected[0].problem,
            RowProblem::InvalidPhone { .. }
        ));
        let mut keys = Vec::new();
        for key in ["1001", "1002", "1003", "1004", "1005"] {
            if dir.contact_by_key(SALES, key).await.unwrap().is_some() {
                keys.push(key);
            }
        }
        assert_eq!(keys, ["1001", "1005"]);
        let first = dir.contact_by_key(SALES, "1001").await.unwrap().unwrap();
        assert_eq!(
            first.name.as_deref(),
            Some("Uno"),
            "the duplicate did not overwrite it"
        );
    }
);

dual_db_test!(
    import_all_or_nothing_imports_nothing_on_a_bad_row,
    |db: TestDb| async move {
        let dir = directory_with(&db, KeyKind::Clave1).await;
        let report = import_fixture(&dir, "invalid_phones.csv", ImportOptions { all_or_nothing: true })
            .await
            .unwrap();
        assert!(!report.applied);
        assert_eq!(report.rejected.len(), 5);
        assert_eq!((report.imported, report.updated), (0, 0));
        assert_eq!(dir.count_contacts(SALES).await.unwrap(), 0);

        let good = import_fixture(&dir, "good.csv", ImportOptions { all_or_nothing: true })
            .await
            .unwrap();
        assert!(good.applied);
        assert_eq!(dir.count_contacts(SALES).await.unwrap(), 4);
    }
);

dual_db_test!(
    import_with_wrong_columns_imports_nothing,
    |db: TestDb| async move {
        let dir = directory_with(&db, KeyKind::Clave1).await;
        let err = import_fixture(&dir, "wrong_columns.csv", ImportOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, ImportError::Header(_)), "{err:?}");
        assert!(err.is_bad_input());
        let message = err.to_string();
        assert!(message.contains("no `clave_1` column"), "{message}");
        assert!(message.contains("found: id, telefono_movil, nombre"), "{message}");
        assert_eq!(dir.count_contacts(SALES).await.unwrap(), 0);

        for (content, expected) in [
            ("", "the file is empty"),
            (
                "clave_1,phone,,name\n1,,,x\n",
                "column 3 of the header row has no name",
            ),
            ("clave_1,Phone,telefono\n1,,\n", "column `phone` appears twice"),
        ] {
            let err = import_csv(
                &dir,
                SALES,
                content.as_bytes(),
                ImportOptions::default(),
                &ProgressBar::hidden(),
            )
            .await
            .unwrap_err();
            assert!(err.to_string().contains(expected), "{err} / {expected}");
        }
        let unknown = import_csv(
            &dir,
            99,
            "clave_1\n1\n".as_bytes(),
            ImportOptions::default(),
            &ProgressBar::hidden(),
        )
        .await
        .unwrap_err();
        assert!(matches!(
            unknown,
            ImportError::Contacts(ContactsError::UnknownDatabase(99))
        ));
        assert_eq!(dir.count_contacts(SALES).await.unwrap(), 0);
    }
);

dual_db_test!(
    import_into_a_phone_database_keys_by_e164,
    |db: TestDb| async move {
        let dir = directory_with(&db, KeyKind::Phone).await;
        let report = import_fixture(&dir, "phone_keyed.csv", ImportOptions::default())
            .await
            .unwrap();
        assert_eq!(report.imported, 2, "{:?}", report.rejected);
        let ana = dir.contact_by_key(SALES, "+541143215678").await.unwrap().unwrap();
        assert_eq!(ana.name.as_deref(), Some("Ana"));
        assert_eq!(ana.extra["city"], "Buenos Aires");

        // The imported contact is found by the caller's number.
        let m = dir
            .contacto_insert_salesforce(&call(None, Some("+54 11 4321 5678")))
            .await
            .unwrap();
        assert!(!m.created);
        assert_eq!(m.contact_id, ana.id);

        let err = import_csv(
            &dir,
            SALES,
            "clave_1,phone\n1,011 4321-5678\n".as_bytes(),
            ImportOptions::default(),
            &ProgressBar::hidden(),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("keyed by phone"), "{err}");
    }
);

// --- the command line --------------------------------------------------------------------------

fn ctibridge(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ctibridge"))
        .args(args)
        .env_remove("CTIBRIDGE_CONFIG")
        .env_remove("CTIBRIDGE_DATABASE__URL")
        .env_remove("CTIBRIDGE_CONTACTS__DEFAULT_COUNTRY")
        .output()
        .expect("run ctibridge")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn cli_creates_lists_and_imports() {
    let db = TestDb::sqlite();
    let url = db.url.as_str();
    let good = fixture("good.csv");
    let bad = fixture("invalid_phones.csv");
    let wrong = fixture("wrong_columns.csv");

    let out = ctibridge(&[
        "contacts",
        "databases",
        "create",
        "--id",
        "7",
        "--name",
        "Ventas",
        "--key",
        "clave_1",
        "--crm",
        "3",
        "--database-url",
        url,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("created contact database 7 \"Ventas\" (key clave_1, CRM 3)"));

    let out = ctibridge(&[
        "contacts",
        "databases",
        "create",
        "--id",
        "7",
        "--name",
        "x",
        "--key",
        "phone",
        "--crm",
        "3",
        "--database-url",
        url,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("contact database 7 already exists"));

    let out = ctibridge(&[
        "contacts",
        "import",
        "--database",
        "7",
        good.to_str().unwrap(),
        "--database-url",
        url,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("imported 4, updated 0, rejected 0"),
        "{}",
        text(&out.stdout)
    );

    let out = ctibridge(&[
        "contacts",
        "import",
        "--database",
        "7",
        bad.to_str().unwrap(),
        "--database-url",
        url,
    ]);
    assert_eq!(out.status.code(), Some(2), "rejected rows exit 2");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("line 3: invalid phone \"abc\": contains letters"),
        "{stdout}"
    );
    assert!(stdout.contains("imported 2, updated 0, rejected 5"), "{stdout}");

    let out = ctibridge(&[
        "contacts",
        "import",
        "--database",
        "7",
        wrong.to_str().unwrap(),
        "--database-url",
        url,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no `clave_1` column"),
        "{}",
        text(&out.stderr)
    );

    let out = ctibridge(&[
        "contacts",
        "import",
        "--database",
        "8",
        good.to_str().unwrap(),
        "--database-url",
        url,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("contact database 8 does not exist"));

    let out = ctibridge(&[
        "contacts",
        "import",
        "--database",
        "7",
        "/nonexistent/file.csv",
        "--database-url",
        url,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot open `/nonexistent/file.csv`"));

    let out = ctibridge(&["contacts", "databases", "list", "--database-url", url]);
    assert!(out.status.success());
    let listing = text(&out.stdout);
    let row = listing.lines().find(|l| l.contains("Ventas")).expect("listed");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells, ["7", "clave_1", "3", "6", "Ventas"], "{listing}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ctibridge"))
        .args(["contacts", "databases", "list", "--database-url", url])
        .env_remove("CTIBRIDGE_CONFIG")
        .env("CTIBRIDGE_CONTACTS__DEFAULT_COUNTRY", "Narnia")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("contacts.default_country"), "{stderr}");
    assert!(stderr.contains("CTIBRIDGE_CONTACTS__DEFAULT_COUNTRY"), "{stderr}");
}
