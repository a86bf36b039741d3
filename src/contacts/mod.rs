//! Contacts: the telephony-side contact databases and the `CONTACTO_INSERT_SALESFORCE`
//! equivalent (find the contact by key or ANI, insert it into IDDATABASE when missing, return
//! CLAVESF = `idContacto-Data`).
