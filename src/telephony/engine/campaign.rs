//! Campaigns: inbound (a queue) or outbound (a dialer), each with its contact database,
//! transfer phones, dispositions and optional automatic release. With none configured, the
//! demo campaigns.

use std::time::Duration;

use crate::telephony::config::{CampaignConfig, CampaignKind, CategoryConfig, SubcategoryConfig};
use crate::telephony::error::TelephonyError;
use crate::telephony::types::{CampaignId, DialerKind, Disposition};

#[derive(Debug, Clone)]
pub struct Campaign {
    pub id: CampaignId,
    pub name: String,
    pub kind: CampaignKind,
    pub dialer: Option<DialerKind>,
    pub queue: String,
    pub database_id: i64,
    pub crm_id: i64,
    pub transfer_phones: Vec<String>,
    pub categories: Vec<CategoryConfig>,
    pub auto_release: Option<Duration>,
    pub callback_campaign: Option<CampaignId>,
    /// How long a call may wait for an agent (inbound, core routing).
    pub max_wait: Option<Duration>,
    /// When the campaign takes calls; `None`: always.
    pub hours: Option<crate::telephony::hours::OpeningHours>,
}

impl Campaign {
    pub fn is_outbound(&self) -> bool {
        self.kind == CampaignKind::Outbound
    }

    /// Finds a subcategory of the campaign's dispositions.
    pub fn subcategory(&self, disposition: &Disposition) -> Option<&SubcategoryConfig> {
        self.categories
            .iter()
            .find(|c| c.id == disposition.category)?
            .subcategories
            .iter()
            .find(|s| s.id == disposition.subcategory)
    }

    /// The disposition a scheduled callback is categorized with, when the campaign has one.
    pub fn schedule_disposition(&self) -> Option<Disposition> {
        self.categories.iter().find_map(|c| {
            c.subcategories.iter().find(|s| s.schedule).map(|s| Disposition {
                category: c.id,
                subcategory: s.id,
                comment: None,
            })
        })
    }
}

/// Builds the campaigns from their configuration (`TelephonyConfig::effective_campaigns`: the
/// demo campaigns when none are configured).
pub fn build(configs: &[CampaignConfig]) -> Result<Vec<Campaign>, TelephonyError> {
    let mut campaigns: Vec<Campaign> = Vec::with_capacity(configs.len());
    for c in configs {
        let id = CampaignId(c.id);
        let queue = c.queue.clone().unwrap_or_else(|| c.id.to_string());
        if campaigns.iter().any(|o| o.id == id) {
            return Err(TelephonyError::Config(format!("campaign {id} appears twice")));
        }
        if campaigns.iter().any(|o| o.queue == queue) {
            return Err(TelephonyError::Config(format!(
                "campaign {id}: queue `{queue}` is already used by another campaign"
            )));
        }
        let dialer = match (c.kind, c.dialer) {
            (CampaignKind::Outbound, None) => {
                return Err(TelephonyError::Config(format!(
                    "campaign {id} is outbound: set dialer = \"preview\", \"progressive\" or \"predictive\""
                )));
            }
            (CampaignKind::Inbound, Some(_)) => {
                return Err(TelephonyError::Config(format!(
                    "campaign {id} is inbound: it takes no dialer"
                )));
            }
            (_, dialer) => dialer,
        };
        if c.kind == CampaignKind::Outbound && (c.max_wait_secs.is_some() || !c.hours.is_empty()) {
            return Err(TelephonyError::Config(format!(
                "campaign {id} is outbound: max_wait_secs and hours are for inbound campaigns"
            )));
        }
        campaigns.push(Campaign {
            id,
            name: c.name.clone(),
            kind: c.kind,
            dialer,
            queue,
            database_id: c.database_id,
            crm_id: c.crm_id,
            transfer_phones: c.transfer_phones.clone(),
            categories: c.categories.clone(),
            auto_release: c.auto_release_secs.map(Duration::from_secs),
            callback_campaign: c.callback_campaign.map(CampaignId),
            max_wait: c.max_wait_secs.map(Duration::from_secs),
            hours: crate::telephony::hours::OpeningHours::parse(&c.hours, c.timezone.as_deref())
                .map_err(|e| TelephonyError::Config(format!("campaign {id}: hours: {e}")))?,
        });
    }
    for c in &campaigns {
        if let Some(target) = c.callback_campaign
            && !campaigns.iter().any(|o| o.id == target && o.is_outbound())
        {
            return Err(TelephonyError::Config(format!(
                "campaign {}: callback_campaign {target} is not an outbound campaign",
                c.id
            )));
        }
    }
    Ok(campaigns)
}

fn demo_categories() -> Vec<CategoryConfig> {
    let sub = |id, name: &str, schedule| SubcategoryConfig {
        id,
        name: name.to_owned(),
        schedule,
    };
    vec![
        CategoryConfig {
            id: 1,
            name: "Contacted".into(),
            subcategories: vec![
                sub(11, "Sale", false),
                sub(12, "Not interested", false),
                sub(13, "Schedule", true),
            ],
        },
        CategoryConfig {
            id: 2,
            name: "Not contacted".into(),
            subcategories: vec![sub(21, "No answer", false), sub(22, "Wrong number", false)],
        },
    ]
}

/// The demo campaigns: 97 SALESFORCE (inbound queue `salesforce`), 98 predictive, 99 preview,
/// 100 progressive.
pub fn demo_campaigns() -> Vec<CampaignConfig> {
    let outbound = |id, name: &str, dialer| CampaignConfig {
        id,
        name: name.to_owned(),
        kind: CampaignKind::Outbound,
        dialer: Some(dialer),
        queue: None,
        database_id: id,
        crm_id: 1,
        transfer_phones: vec!["1155550100".into()],
        categories: demo_categories(),
        auto_release_secs: None,
        callback_campaign: None,
        max_wait_secs: None,
        hours: Vec::new(),
        timezone: None,
    };
    vec![
        CampaignConfig {
            id: 97,
            name: "SALESFORCE".into(),
            kind: CampaignKind::Inbound,
            dialer: None,
            queue: Some("salesforce".into()),
            database_id: 1,
            crm_id: 1,
            transfer_phones: vec!["1155550100".into(), "1155550101".into()],
            categories: demo_categories(),
            auto_release_secs: None,
            callback_campaign: Some(98),
            max_wait_secs: None,
            hours: Vec::new(),
            timezone: None,
        },
        outbound(98, "SALESFORCE PREDICTIVE", DialerKind::Predictive),
        outbound(99, "SALESFORCE PREVIEW", DialerKind::Preview),
        outbound(100, "SALESFORCE PROGRESSIVE", DialerKind::Progressive),
    ]
}
