//! The fake org's own SOQL / SOSL parser.

use crate::support::fake_salesforce::soql::{parse_soql, parse_sosl};

#[test]
fn soql_parses() {
    let q = parse_soql(
        "SELECT Id, Name FROM Contact WHERE neoSyncId__c = 123 AND Phone = 'x' OR Id IN ('a','b') LIMIT 5",
    )
    .unwrap();
    assert_eq!(q.fields, ["Id", "Name"]);
    assert_eq!(q.sobject, "Contact");
    assert_eq!(q.filter.len(), 2);
    assert_eq!(q.limit, Some(5));
    assert!(parse_soql("SELEC Id FROM X").is_err());
}

#[test]
fn sosl_parses() {
    let s =
        parse_sosl("FIND {+54 11 5555} IN PHONE FIELDS RETURNING Contact(Id, Name), Account(Id)").unwrap();
    assert_eq!(s.term, "+54 11 5555");
    assert_eq!(s.returning.len(), 2);
}
