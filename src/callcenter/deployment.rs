//! The `[callcenter]` configuration section: what `ctibridge callcenter render` writes for this
//! deployment. Defaults are the Neotel manual's option values; labels and sortOrders are
//! ctibridge's standard ones.

use std::num::NonZeroU32;

use serde::Deserialize;
use url::Url;

use super::model::names;
use super::model::{
    CallCenter, DialingOptions, GeneralInfo, Item, NeotelConfigOptions, SectionInfo, Standby,
};
use super::values::{
    CampaignEntity, CompatibilityMode, ContactRelease, DialPrefix, DisplayName, FieldMappings, HttpsUrl,
    InternalName, SearchTypePriority,
};

/// Path of the adapter page under `server.public_url`.
pub const ADAPTER_PATH: &str = "/softphone/";

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeploymentConfig {
    /// `reqInternalName`: unique in the org; letters and digits, at most 40.
    pub internal_name: InternalName,
    /// `reqDisplayName`.
    pub display_name: DisplayName,
    /// `reqAdapterUrl`; derived from `server.public_url` + `/softphone/` when absent.
    pub adapter_url: Option<HttpsUrl>,
    /// `reqSoftphoneHeight`, pixels.
    pub softphone_height: NonZeroU32,
    /// `reqSoftphoneWidth`, pixels.
    pub softphone_width: NonZeroU32,
    /// `reqSalesforceCompatibilityMode`.
    pub compatibility_mode: CompatibilityMode,
    /// `reqStandbyUrl`, with `standby_timeout_ms`.
    pub standby_url: Option<HttpsUrl>,
    /// `reqTimeout`: milliseconds before Salesforce switches to the standby URL.
    pub standby_timeout_ms: Option<NonZeroU32>,
    /// `reqDialingOptions`; the section is written when one prefix is set.
    pub outside_prefix: Option<DialPrefix>,
    pub long_distance_prefix: Option<DialPrefix>,
    pub international_prefix: Option<DialPrefix>,
    /// The `neotelConfigOptions` items.
    pub search_type_priority: SearchTypePriority,
    pub external_data: FieldMappings,
    pub default_new_row_data: FieldMappings,
    pub allow_categorization: bool,
    pub allow_click_to_dial_search: bool,
    pub use_task_description_field: bool,
    pub allow_contact_release: bool,
    /// Seconds after hang-up; -1 = never.
    pub automatic_contact_release: ContactRelease,
    pub save_activity_log: bool,
    pub allow_text_message: bool,
    /// `false` or an sObject API name.
    pub campaign_entity_name: CampaignEntity,
}

impl Default for DeploymentConfig {
    fn default() -> Self {
        // Literals, checked by the unit test below.
        let parse_mappings = |s: &str| s.parse::<FieldMappings>().expect("valid literal");
        Self {
            internal_name: "ctibridge".parse().expect("valid literal"),
            display_name: "ctibridge CTI".parse().expect("valid literal"),
            adapter_url: None,
            softphone_height: NonZeroU32::new(420).expect("non-zero literal"),
            softphone_width: NonZeroU32::new(620).expect("non-zero literal"),
            compatibility_mode: CompatibilityMode::Lightning,
            standby_url: None,
            standby_timeout_ms: None,
            outside_prefix: None,
            long_distance_prefix: None,
            international_prefix: None,
            search_type_priority: SearchTypePriority::default(),
            external_data: parse_mappings(MANUAL_EXTERNAL_DATA),
            default_new_row_data: parse_mappings(MANUAL_DEFAULT_NEW_ROW_DATA),
            allow_categorization: true,
            allow_click_to_dial_search: true,
            use_task_description_field: true,
            allow_contact_release: true,
            automatic_contact_release: ContactRelease::Never,
            save_activity_log: true,
            allow_text_message: false,
            campaign_entity_name: CampaignEntity::Disabled,
        }
    }
}

const MANUAL_EXTERNAL_DATA: &str = "neoContactId__c-contactId|neoBaseId__c-contactBaseId|neoCrmId__c-crmId";
const MANUAL_DEFAULT_NEW_ROW_DATA: &str =
    "neoContactId__c-contactId|neoBaseId__c-contactBaseId|neoCrmId__c-crmId|Phone-phoneNumber|";

/// Why the configuration cannot be rendered; each names the keys to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeploymentError {
    #[error(
        "callcenter.adapter_url is not set and neither is server.public_url: set one of them (the adapter URL is server.public_url + {ADAPTER_PATH})"
    )]
    NoAdapterUrl,
    #[error(
        "callcenter.adapter_url is not set and server.public_url {0:?} is not https: set callcenter.adapter_url or an https server.public_url"
    )]
    PublicUrlNotHttps(String),
    #[error("callcenter.standby_url and callcenter.standby_timeout_ms must be set together")]
    UnpairedStandby,
}

impl DeploymentConfig {
    /// The adapter URL: `adapter_url`, or `public_url` + `/softphone/`.
    pub fn adapter_url(&self, public_url: Option<&Url>) -> Result<HttpsUrl, DeploymentError> {
        if let Some(url) = &self.adapter_url {
            return Ok(url.clone());
        }
        let public_url = public_url.ok_or(DeploymentError::NoAdapterUrl)?;
        let base = public_url.as_str().trim_end_matches('/');
        format!("{base}{ADAPTER_PATH}")
            .parse()
            .map_err(|_| DeploymentError::PublicUrlNotHttps(public_url.to_string()))
    }

    /// The call-center definition of this deployment, with ctibridge's labels and sortOrders.
    pub fn call_center(&self, public_url: Option<&Url>) -> Result<CallCenter, DeploymentError> {
        use names::*;
        let adapter_url = self.adapter_url(public_url)?;
        let standby = match (&self.standby_url, self.standby_timeout_ms) {
            (Some(url), Some(timeout)) => Some(Standby {
                url: Item::standard(url.clone(), STANDBY_URL),
                timeout_ms: Item::standard(timeout, TIMEOUT),
            }),
            (None, None) => None,
            _ => return Err(DeploymentError::UnpairedStandby),
        };
        let general = GeneralInfo {
            section: SectionInfo::standard(GENERAL_INFO),
            internal_name: Item::standard(self.internal_name.clone(), INTERNAL_NAME),
            display_name: Item::standard(self.display_name.clone(), DISPLAY_NAME),
            adapter_url: Item::standard(adapter_url, ADAPTER_URL),
            // Open CTI adapters always call the API.
            use_api: Item::standard(true, USE_API),
            softphone_height: Item::standard(self.softphone_height, SOFTPHONE_HEIGHT),
            softphone_width: Item::standard(self.softphone_width, SOFTPHONE_WIDTH),
            compatibility_mode: Item::standard(self.compatibility_mode, COMPATIBILITY_MODE),
            standby,
            other_items: Vec::new(),
        };
        let prefix = |p: &Option<DialPrefix>, known: Known| p.clone().map(|p| Item::standard(p, known));
        let dialing = DialingOptions {
            section: SectionInfo::standard(DIALING_OPTIONS),
            outside_prefix: prefix(&self.outside_prefix, OUTSIDE_PREFIX),
            long_distance_prefix: prefix(&self.long_distance_prefix, LONG_DIST_PREFIX),
            international_prefix: prefix(&self.international_prefix, INTERNATIONAL_PREFIX),
            other_items: Vec::new(),
        };
        let has_dialing = dialing.outside_prefix.is_some()
            || dialing.long_distance_prefix.is_some()
            || dialing.international_prefix.is_some();
        let mut options_section = SectionInfo::standard(NEOTEL_OPTIONS);
        if !has_dialing {
            // Keep the sections' sortOrders contiguous, as in the manual's file.
            options_section.sort_order = DIALING_OPTIONS.2;
        }
        let options = NeotelConfigOptions {
            section: options_section,
            search_type_priority: Item::standard(self.search_type_priority.clone(), SEARCH_TYPE_PRIORITY),
            external_data: Item::standard(self.external_data.clone(), EXTERNAL_DATA),
            default_new_row_data: Item::standard(self.default_new_row_data.clone(), DEFAULT_NEW_ROW_DATA),
            allow_categorization: Item::standard(self.allow_categorization, ALLOW_CATEGORIZATION),
            allow_click_to_dial_search: Item::standard(
                self.allow_click_to_dial_search,
                ALLOW_CLICK_TO_DIAL_SEARCH,
            ),
            use_task_description_field: Item::standard(
                self.use_task_description_field,
                USE_TASK_DESCRIPTION_FIELD,
            ),
            allow_contact_release: Item::standard(self.allow_contact_release, ALLOW_CONTACT_RELEASE),
            automatic_contact_release: Item::standard(
                self.automatic_contact_release,
                AUTOMATIC_CONTACT_RELEASE,
            ),
            save_activity_log: Item::standard(self.save_activity_log, SAVE_ACTIVITY_LOG),
            allow_text_message: Item::standard(self.allow_text_message, ALLOW_TEXT_MESSAGE),
            campaign_entity_name: Item::standard(self.campaign_entity_name.clone(), CAMPAIGN_ENTITY_NAME),
            other_items: Vec::new(),
        };
        Ok(CallCenter {
            general,
            dialing: has_dialing.then_some(dialing),
            options,
            other_sections: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_manuals_option_values() {
        let config = DeploymentConfig::default();
        assert_eq!(config.external_data.to_string(), MANUAL_EXTERNAL_DATA);
        assert_eq!(
            config.default_new_row_data.to_string(),
            MANUAL_DEFAULT_NEW_ROW_DATA
        );
        assert_eq!(config.internal_name.as_str(), "ctibridge");
        assert_eq!(config.display_name.as_str(), "ctibridge CTI");
    }

    #[test]
    fn the_adapter_url_comes_from_the_public_url() {
        let config = DeploymentConfig::default();
        let public = Url::parse("https://cti.example.com/base/").unwrap();
        let url = config.adapter_url(Some(&public)).unwrap();
        assert_eq!(url.as_url().as_str(), "https://cti.example.com/base/softphone/");
        assert_eq!(config.adapter_url(None), Err(DeploymentError::NoAdapterUrl));
        let http = Url::parse("http://cti.example.com").unwrap();
        let err = config.adapter_url(Some(&http)).unwrap_err();
        assert!(err.to_string().contains("server.public_url"), "{err}");
        assert!(err.to_string().contains("callcenter.adapter_url"), "{err}");
    }

    #[test]
    fn standby_needs_both_keys() {
        let config = DeploymentConfig {
            standby_url: Some("https://standby.example.com/".parse().unwrap()),
            ..DeploymentConfig::default()
        };
        let public = Url::parse("https://cti.example.com").unwrap();
        assert_eq!(
            config.call_center(Some(&public)),
            Err(DeploymentError::UnpairedStandby)
        );
    }
}
