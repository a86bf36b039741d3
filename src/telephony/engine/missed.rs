//! Missed calls, the core's side: an inbound call that ends without any agent answering it is
//! reported once as [`Event::CallMissed`] (engine-wide), with why, how long it waited and the
//! caller's record and owner when known; the missed-call log ([`crate::missed`]) records it
//! and writes its Salesforce Task in the same commit.
//!
//! The reasons: the caller hung up waiting (`abandoned`); the campaign's `max_wait_secs` passed
//! or the platform's queue gave up (`noAgent`, or `ringOut` when it had rung on some agent);
//! it arrived outside the campaign's opening hours (`outsideHours`: never queued). An agent
//! who logs in later still sees queued calls, so "no agent logged in" is not a reason of its
//! own: without `max_wait_secs` a call waits for one until the caller hangs up.

use super::state::{Call, Inner, Timer};
use crate::telephony::events::{EndReason, Event, MissedReason};
use crate::telephony::switch::SwitchCommand;
use crate::telephony::types::{CallId, CallState, CampaignId, Direction};

impl Inner {
    /// Whether `campaign` is closed now (outside its opening hours).
    pub fn outside_hours(&self, campaign: CampaignId) -> bool {
        self.campaigns
            .get(&campaign)
            .and_then(|c| c.hours.as_ref())
            .is_some_and(|hours| !hours.is_open(self.clock.now()))
    }

    /// Starts the campaign's `max_wait_secs` for a call just queued (where the core routes
    /// calls: a switch with its own queues applies its own timeout).
    pub fn start_max_wait(&mut self, id: CallId) {
        if self.routes_calls {
            return;
        }
        let wait = self
            .calls
            .get(&id)
            .and_then(|c| c.campaign)
            .and_then(|c| self.campaigns.get(&c))
            .and_then(|c| c.max_wait);
        if let Some(wait) = wait {
            self.schedule(wait, Timer::MaxWait(id));
        }
    }

    /// The call waited as long as its campaign allows: it leaves the queue as missed. One
    /// ringing on an agent gets that ring's chance; it is not queued again after it.
    pub fn max_wait_passed(&mut self, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.progress.answered {
            return;
        }
        match call.state {
            CallState::Queued => {
                self.command(SwitchCommand::Hangup { call: id });
                self.end_call(id, EndReason::NoAnswer);
            }
            CallState::Ringing => call.progress.overdue = true,
            _ => {}
        }
    }

    /// The caller left the platform's queue unconnected ([`crate::telephony::switch::SwitchEvent::LeftQueue`]).
    /// A call the core no longer has (it ended already) is no news.
    pub fn left_queue(&mut self, id: CallId, for_good: bool) {
        let Some(call) = self.calls.get(&id) else { return };
        let over = !call.progress.answered
            && (call.state == CallState::Queued || (for_good && call.state == CallState::Ringing));
        if over {
            self.end_call(id, EndReason::NoAnswer);
        }
    }

    /// Reports `call` (just ended with `reason`) as missed when it is an inbound call no agent
    /// answered.
    pub fn report_missed(&mut self, id: CallId, call: &Call, reason: EndReason) {
        if call.direction != Direction::Inbound
            || call.predictive
            || call.progress.answered
            || reason == EndReason::Transferred
        {
            return;
        }
        let reason = match reason {
            EndReason::Abandoned | EndReason::CustomerHangup => MissedReason::Abandoned,
            _ if call.progress.offered => MissedReason::RingOut,
            _ => MissedReason::NoAgent,
        };
        self.emit_missed(id, call, reason);
    }

    /// Emits the [`Event::CallMissed`] of `call`.
    pub fn emit_missed(&mut self, id: CallId, call: &Call, reason: MissedReason) {
        let Some(campaign) = call.campaign else { return };
        let queue = self
            .campaigns
            .get(&campaign)
            .map(|c| c.queue.clone())
            .unwrap_or_default();
        let now = self.clock.now();
        let arrived_at = call.progress.arrived_at.unwrap_or(now);
        let waited_secs = (now - arrived_at).num_seconds().max(0) as u64;
        let mut view = call.view();
        view.state = CallState::Ended;
        view.agent = None;
        view.data.call_id = id.0;
        self.emit(
            None,
            Event::CallMissed {
                call: view,
                reason,
                campaign,
                queue,
                arrived_at,
                waited_secs,
            },
        );
    }
}
