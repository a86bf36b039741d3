//! Phone numbers: E.164 normalisation with a default country for national numbers (the
//! `phonenumber` crate, libphonenumber's metadata), and recognising anonymous / private callers.

use std::fmt;
use std::str::FromStr;

use phonenumber::Mode;
use phonenumber::country::Id;

/// The region national numbers are read in (`[contacts] default_country`), an ISO 3166
/// alpha-2 code libphonenumber knows, such as `AR` or `US`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct Region(Id);

impl Region {
    /// The region's ISO code (`AR`).
    pub fn code(&self) -> &str {
        self.0.as_ref()
    }
}

impl Default for Region {
    /// Argentina: the home of the Neotel platform whose conventions ctibridge follows.
    fn default() -> Self {
        Region(Id::AR)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a region code: use an ISO 3166 alpha-2 code such as AR, US or ES")]
pub struct UnknownRegion(pub String);

impl FromStr for Region {
    type Err = UnknownRegion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let code = s.trim().to_ascii_uppercase();
        // The metadata also has non-region entries (`001` for global services): only letters.
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(UnknownRegion(s.to_owned()));
        }
        Id::from_str(&code)
            .map(Region)
            .map_err(|_| UnknownRegion(s.to_owned()))
    }
}

impl TryFrom<String> for Region {
    type Error = UnknownRegion;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why a string is not a usable phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid phone number `{input}`: {reason}")]
pub struct PhoneError {
    pub input: String,
    pub reason: String,
}

impl From<PhoneError> for super::ContactsError {
    fn from(e: PhoneError) -> Self {
        super::ContactsError::InvalidPhone {
            input: e.input,
            reason: e.reason,
        }
    }
}

/// `input` in E.164 (`+5491155551234`). A number with `+` or an international prefix keeps its
/// country; a national one is read in `region`. Spaces, dashes, dots and parentheses are
/// allowed; the number must be valid for its country, not merely digits.
pub fn normalize(input: &str, region: Region) -> Result<String, PhoneError> {
    let error = |reason: &str| PhoneError {
        input: input.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(error("empty"));
    }
    if trimmed.chars().any(|c| c.is_alphabetic()) {
        // libphonenumber reads vanity letters (1-800-FLOWERS); a contact list or a caller id
        // with letters is a data error instead.
        return Err(error("contains letters"));
    }
    let number = phonenumber::parse(Some(region.0), trimmed).map_err(|e| error(&e.to_string()))?;
    if !number.is_valid() {
        return Err(error(&format!(
            "not a valid number (national numbers are read as {region})"
        )));
    }
    Ok(number.format().mode(Mode::E164).to_string())
}

/// The caller as the signalled ANI describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No number: absent, empty, `anonymous`, `private`, `restricted`, all zeros, …
    Private,
    /// A valid number, in E.164.
    Number(String),
    /// Something that is neither private nor a valid number (an internal extension, a
    /// malformed caller id).
    Unrecognised(String),
}

impl Caller {
    /// Classifies an ANI.
    pub fn from_ani(ani: Option<&str>, region: Region) -> Caller {
        let Some(ani) = ani else {
            return Caller::Private;
        };
        if is_private(ani) {
            return Caller::Private;
        }
        match normalize(&uri_user(&ani.trim().to_lowercase()), region) {
            Ok(e164) => Caller::Number(e164),
            Err(_) => Caller::Unrecognised(ani.trim().to_owned()),
        }
    }

    /// The caller's number in E.164, when there is one.
    pub fn e164(&self) -> Option<&str> {
        match self {
            Caller::Number(n) => Some(n),
            _ => None,
        }
    }
}

/// Words carriers, SIP trunks and PBXs put in the caller id of a withheld number.
const PRIVATE_WORDS: &[&str] = &[
    "anonymous",
    "anonimo",
    "anónimo",
    "private",
    "privado",
    "restricted",
    "restringido",
    "unknown",
    "desconocido",
    "unavailable",
    "withheld",
    "blocked",
    "p",
    "o",
];

/// The user part of a caller id given as a URI (`sip:+5411…@pbx`, `tel:+5411…`), or the
/// caller id itself; `lowered` is already trimmed and in lower case.
fn uri_user(lowered: &str) -> String {
    let user = lowered
        .strip_prefix("sip:")
        .or_else(|| lowered.strip_prefix("sips:"))
        .or_else(|| lowered.strip_prefix("tel:"))
        .unwrap_or(lowered);
    // `;user=phone` parameters and the host.
    let user = user.split(['@', ';']).next().unwrap_or("");
    user.trim().to_owned()
}

/// Whether an ANI says the number is withheld: empty, one of the usual words (also as a SIP
/// URI user part, `sip:anonymous@anonymous.invalid`), or only zeros.
pub fn is_private(ani: &str) -> bool {
    let user = uri_user(&ani.trim().to_lowercase());
    let user = user.as_str();
    if user.is_empty() || PRIVATE_WORDS.contains(&user) {
        return true;
    }
    let mut digits = user
        .chars()
        .filter(|c| !matches!(c, '+' | ' ' | '-' | '.' | '(' | ')'));
    // All zeros: the "0000000" some switches send for a withheld number.
    let first = digits.next();
    first == Some('0') && digits.all(|c| c == '0')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ar() -> Region {
        "AR".parse().unwrap()
    }

    #[test]
    fn region_codes_are_iso_letters() {
        assert_eq!("ar".parse::<Region>().unwrap().code(), "AR");
        assert!("XX".parse::<Region>().is_err());
        assert!("001".parse::<Region>().is_err());
        assert!("Argentina".parse::<Region>().is_err());
    }

    #[test]
    fn private_callers() {
        for ani in [
            "",
            "  ",
            "anonymous",
            "Anonymous",
            "PRIVATE",
            "restricted",
            "unknown",
            "unavailable",
            "sip:anonymous@anonymous.invalid",
            "0",
            "0000000",
            "+000",
        ] {
            assert!(is_private(ani), "{ani:?}");
        }
        for ani in ["+5491155551234", "1155551234", "100", "0800 333 1234"] {
            assert!(!is_private(ani), "{ani:?}");
        }
    }

    #[test]
    fn national_and_international_numbers() {
        assert_eq!(normalize("011 4321-5678", ar()).unwrap(), "+541143215678");
        assert_eq!(normalize("+54 9 11 5555-1234", ar()).unwrap(), "+5491155551234");
        assert_eq!(normalize("+1 (212) 555-0100", ar()).unwrap(), "+12125550100");
        assert!(normalize("abc", ar()).is_err());
        assert!(normalize("12", ar()).is_err());
    }
}
