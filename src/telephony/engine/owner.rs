//! Owner routing in the core: at intake the caller's Salesforce record and its owner are
//! looked up (outside the lock, bounded by the lookup's timeout, see [`crate::routing`]) and
//! kept on the call ([`OwnerMatch`]). With the core's own ACD, a call whose owner is logged in
//! to the call's campaign and ready rings on the owner first for `routing.owner_first_secs`;
//! the owner busy, paused, not logged in to that campaign, or not answering in time: the call
//! waits in the queue as usual, in the place its arrival gave it.
//!
//! An owner who lets the owner-first offer ring out is **not** paused "No answer" (unlike a
//! queue offer's ring-out): the offer is a courtesy to the owner, who may be at the desk on
//! other work, and pausing would take a ready agent off the floor. The owner goes to the back
//! of the line of ready agents instead, so the call goes to someone else first.
//!
//! A switch with its own queues (Asterisk) routes by itself: the dialplan asks
//! [`EmbeddedEngine::owner_device`] (`GET /asterisk/owner`) which device to dial first.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::state::{Inner, Link};
use super::{EmbeddedEngine, Shared};
use crate::routing::leads::LeadSink;
use crate::routing::{OwnerAnswer, OwnerLookup, same_salesforce_id};
use crate::telephony::error::{Result, TelephonyError};
use crate::telephony::events::{EndReason, Event};
use crate::telephony::types::{AgentId, CallId, CampaignId, OwnerMatch};

/// Owner routing as the engine is given it ([`EmbeddedEngine::route_to_owners`]).
pub(super) struct OwnerRouting {
    lookup: Arc<dyn OwnerLookup>,
    leads: Option<Arc<dyn LeadSink>>,
}

/// The owner of the caller's record; `Unknown` when owner routing is off or the caller
/// withheld the number. A caller with no record gets a Lead where `campaign` says so (saved
/// before the call is acknowledged).
pub(super) async fn lookup(shared: &Shared, ani: Option<&str>, campaign: CampaignId) -> OwnerAnswer {
    let (Some(routing), Some(ani)) = (shared.owners.get(), ani) else {
        return OwnerAnswer::Unknown;
    };
    let answer = routing.lookup.owner_of(ani).await;
    if answer == OwnerAnswer::NoRecord
        && let Some(leads) = routing.leads.as_ref().filter(|l| l.wants(campaign.0))
        && let Err(e) = leads.no_record(ani).await
    {
        tracing::error!(
            error = %e.escape_debug(),
            campaign = campaign.0,
            "cannot save the new Lead for a caller with no Salesforce record"
        );
    }
    answer
}

impl Inner {
    /// The roster's agent bound to the Salesforce user `owner_id`.
    pub fn agent_of_owner(&self, owner_id: &str) -> Option<AgentId> {
        self.agents
            .iter()
            .find(|(_, a)| {
                a.entry
                    .salesforce_user_id
                    .as_deref()
                    .is_some_and(|id| same_salesforce_id(id, owner_id))
            })
            .map(|(user, _)| user.clone())
    }

    /// The call's [`OwnerMatch`] from what the lookup found.
    pub fn owner_match(&self, answer: OwnerAnswer) -> Option<OwnerMatch> {
        let OwnerAnswer::Found(record) = answer else {
            return None;
        };
        let agent = record.owner_id.as_deref().and_then(|id| self.agent_of_owner(id));
        Some(OwnerMatch {
            record_type: record.record_type,
            record_id: record.record_id,
            owner_id: record.owner_id,
            agent,
            name: record.name,
        })
    }

    /// The owner of call `id` when logged in to the call's campaign and ready for it.
    pub fn owner_ready(&self, id: CallId) -> Option<AgentId> {
        let call = self.calls.get(&id)?;
        let agent = call.owner.as_ref()?.agent.clone()?;
        let campaign = call.campaign?;
        self.session(&agent).ok()?.ready_for(campaign).then_some(agent)
    }

    /// A call just queued rings on its owner first when the owner is ready (core ACD only).
    pub fn offer_to_owner_first(&mut self, id: CallId) {
        let Some(ring) = self.owner_first.filter(|_| !self.routes_calls) else {
            return;
        };
        let Some(owner) = self.owner_ready(id) else {
            return;
        };
        for queue in self.queues.values_mut() {
            queue.retain(|c| *c != id);
        }
        if let Some(offer) = self.offer_for(id, &owner, Link::Owner, ring) {
            self.owner_offers.insert(id, offer);
        }
    }

    /// The owner-first offer rang out: the owner is ready again (at the back of the line),
    /// the call goes to its place in the queue.
    pub fn owner_first_rang_out(&mut self, id: CallId, owner: &AgentId) {
        self.owner_offers.remove(&id);
        if let Ok(session) = self.session_mut(owner) {
            session.call = None;
            session.state = session.idle_state();
            session.available_since = Instant::now();
        }
        self.emit(
            Some(owner),
            Event::CallEnded {
                call_id: id,
                reason: EndReason::NoAnswer,
            },
        );
        self.emit_position(owner);
        self.requeue_in_place(id);
        self.run();
    }

    /// Queues the call where its arrival puts it: before the calls that came after it (call
    /// ids grow with arrival).
    fn requeue_in_place(&mut self, id: CallId) {
        self.enqueue(id, false);
        let Some(campaign) = self.calls.get(&id).and_then(|c| c.campaign) else {
            return;
        };
        if let Some(queue) = self.queues.get_mut(&campaign) {
            queue.retain(|c| *c != id);
            let at = queue.iter().position(|c| c.0 > id.0).unwrap_or(queue.len());
            queue.insert(at, id);
        }
    }
}

impl EmbeddedEngine {
    /// Turns owner routing on: calls taken in from now on are looked up with `lookup`, and
    /// (core ACD) ring on their ready owner for `owner_first` (if any) before the queue. Set
    /// once. `leads`: where callers with no record get a Lead (the campaigns it wants).
    pub fn route_to_owners(
        &self,
        lookup: Arc<dyn OwnerLookup>,
        owner_first: Option<Duration>,
        leads: Option<Arc<dyn LeadSink>>,
    ) {
        if self.shared.owners.set(OwnerRouting { lookup, leads }).is_ok() {
            self.shared.lock().owner_first = owner_first;
        }
    }

    /// For a switch with its own queues (the Asterisk dialplan, before `Queue()`): the device
    /// of the owner of the call the platform names `reference`, when that owner is logged in to
    /// `queue`'s campaign and ready; `None` otherwise (no such call, no owner, owner busy,
    /// `owner_first_secs` 0).
    pub fn owner_device(&self, queue: &str, reference: &str) -> Result<Option<String>> {
        let inner = self.shared.lock();
        if !inner.campaigns.values().any(|c| c.queue == queue) {
            return Err(TelephonyError::UnknownQueue(queue.to_owned()));
        }
        if inner.owner_first.is_none() {
            return Ok(None);
        }
        let Some(id) = inner.references.get(reference).copied() else {
            return Ok(None);
        };
        if inner
            .calls
            .get(&id)
            .and_then(|c| c.campaign)
            .and_then(|c| inner.campaigns.get(&c))
            .is_none_or(|c| c.queue != queue)
        {
            return Ok(None);
        }
        Ok(inner.owner_ready(id).and_then(|owner| inner.device_of(&owner)))
    }
}
