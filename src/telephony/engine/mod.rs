//! The embedded contact-center engine, the default telephony driver: a roster of agents and
//! supervisors, campaigns (inbound queues, outbound dialers), agent states, an ACD, calls with
//! transfers, conferences and monitoring, scheduled callbacks — all in-process, with a
//! [`Simulation`] API standing in for customers and devices.
//!
//! Concurrency: the whole state sits behind one `std::sync::Mutex`, held only for synchronous
//! work (never across an await); password verification (argon2) and the contact lookup run
//! outside it. Events go out through one `tokio::sync::broadcast` channel per engine; each
//! carries the agent it concerns and a per-agent sequence number (one channel keeps a single
//! order across agents, which conferences and transfers need; the websocket layer filters by
//! agent). A slow subscriber that lags gets `RecvError::Lagged` and re-reads `Position`.
//!
//! Time: timers (dialer calls ringing, ring timeouts, automatic release, callbacks) run on
//! tokio's clock in a background task, so a paused test runtime drives them with `advance()`;
//! wall-clock times (callbacks, event stamps) come from a [`Clock`].
//!
//! With no agents configured the demo roster is used ([`EmbeddedEngine::is_demo`]): `agent1`,
//! `agent2`, `agent3` (devices 1001–1003) and supervisor `super1` (device 1100), password
//! `demo`; the server then refuses non-loopback addresses. With no campaigns configured: 97
//! SALESFORCE (inbound, queue `salesforce`), 98 predictive, 99 preview, 100 progressive.

mod acd;
mod agent;
mod call;
pub mod campaign;
pub mod clock;
mod conference;
mod dialer;
pub mod durable;
mod missed;
mod monitor;
mod owner;
pub mod roster;
pub mod sim;
mod state;
mod transfer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;

use crate::config::TelephonyConfig;
use crate::contacts::{ContactResolver, InboundLookup};
use crate::telephony::api::Telephony;
use crate::telephony::error::{Result, TelephonyError};
use crate::telephony::events::{EventEnvelope, NeotelData};
use crate::telephony::switch::{Switch, SwitchEvent, SwitchInput};
use crate::telephony::types::{
    AgentId, CallId, Callback, CampaignId, DialRequest, Directory, Disposition, LoginRequest, MonitorRequest,
    Participant, PauseReason, Position, ScheduleCallbackRequest, Task, TaskParams, TransferRequest,
};

pub use clock::{Clock, SystemClock, TokioClock};
pub use sim::{CustomerBehaviour, InboundCall, LeadInput, SimulatedSwitch, Simulation};

use durable::{CommitSink, RestoredState};
use state::{Inner, Timer};

/// Events buffered per subscriber before it lags.
const EVENT_BUFFER: usize = 1024;

pub struct Shared {
    inner: Mutex<Inner>,
    events: broadcast::Sender<EventEnvelope>,
    wake: Arc<Notify>,
    stopped: AtomicBool,
    /// Where changes are saved; `None`: the engine persists nothing (unit tests, benchmarks).
    sink: Option<Arc<dyn CommitSink>>,
    /// One commit at a time, in the order the changes were made.
    gate: tokio::sync::Mutex<()>,
    /// Whether the last commit failed (logged once per episode).
    failing: AtomicBool,
    /// The telephony platform: gets the core's commands once each change is made.
    switch: Arc<dyn Switch>,
    /// CONTACTO_INSERT_SALESFORCE, for the intake of calls the switch reports.
    resolver: Arc<dyn ContactResolver>,
    /// Owner routing's lookup, once set ([`EmbeddedEngine::route_to_owners`]); unset: off.
    owners: std::sync::OnceLock<owner::OwnerRouting>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent-enough state for a simulation;
        // keep serving rather than poisoning every later call.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Saves every change made so far (events → call log and outbox, agents, callbacks,
    /// leads) in one transaction. Returns once they are committed: whoever acknowledges a
    /// change calls this first. A failed commit is kept and retried by the next flush.
    pub(crate) async fn flush(&self) -> Result<()> {
        let Some(sink) = &self.sink else {
            return Ok(());
        };
        let _turn = self.gate.lock().await;
        let commit = self.lock().take_commit();
        if commit.is_empty() {
            return Ok(());
        }
        match sink.commit(&commit).await {
            Ok(committed) => {
                if self.failing.swap(false, Ordering::SeqCst) {
                    tracing::warn!("the database saves telephony changes again");
                }
                self.lock().committed(committed);
                Ok(())
            }
            Err(e) => {
                if !self.failing.swap(true, Ordering::SeqCst) {
                    tracing::error!(
                        error = %e,
                        events = commit.events.len(),
                        "cannot save telephony changes; they are kept and retried"
                    );
                }
                self.lock().restore_commit(commit);
                Err(TelephonyError::NotSaved(e))
            }
        }
    }

    /// Runs a change under the lock and sends the switch the commands it produced, still under
    /// the lock, so two changes' commands reach the switch in the order the changes were made
    /// (`Switch::command` only queues).
    pub(crate) fn change<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.lock();
        let result = f(&mut inner);
        for command in std::mem::take(&mut inner.commands) {
            self.switch.command(command);
        }
        result
    }

    /// Runs a change, then commits it before answering. Refused while the platform cannot take
    /// commands (its link is down): nothing changes then.
    async fn apply<T>(&self, f: impl FnOnce(&mut Inner) -> Result<T>) -> Result<T> {
        self.switch.available().map_err(TelephonyError::SwitchDown)?;
        let result = self.change(f);
        self.flush().await?;
        result
    }

    /// An event from the switch: applied, then saved. One the core cannot place (a call or
    /// device it does not know, a call no longer in that stage) is logged and ignored.
    pub(crate) async fn switch_event(&self, event: SwitchEvent) -> Result<()> {
        let described = format!("{event:?}");
        if let Err(e) = self.change(|inner| inner.switch_event(event)) {
            tracing::warn!(
                switch = self.switch.name(),
                event = %described.escape_debug(),
                error = %e.to_string().escape_debug(),
                "switch event ignored"
            );
        }
        self.flush().await
    }
}

/// The embedded engine. Build it with [`EmbeddedEngine::from_config`]; hold it as
/// `Arc<dyn Telephony>`; drive customers with [`EmbeddedEngine::simulation`].
pub struct EmbeddedEngine {
    shared: Arc<Shared>,
    demo: bool,
    /// The simulated switch, when it is the engine's platform.
    sim: Option<Arc<SimulatedSwitch>>,
    /// What an unknown user's password is checked against (see [`crate::password::decoy_like`]).
    decoy_hash: String,
}

impl EmbeddedEngine {
    /// Builds the engine from `[telephony]` with the system clock. Must run inside a tokio
    /// runtime (it starts the timer task).
    pub async fn from_config(
        config: &TelephonyConfig,
        contacts: Arc<dyn ContactResolver>,
    ) -> Result<Arc<EmbeddedEngine>> {
        Self::with_clock(config, contacts, Arc::new(SystemClock)).await
    }

    /// As [`EmbeddedEngine::from_config`] with a given wall clock (tests: [`TokioClock`]).
    pub async fn with_clock(
        config: &TelephonyConfig,
        contacts: Arc<dyn ContactResolver>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<EmbeddedEngine>> {
        Self::build(config, contacts, clock, None, None).await
    }

    /// An engine in front of another telephony platform (tests: a scripted switch).
    pub async fn with_switch(
        config: &TelephonyConfig,
        contacts: Arc<dyn ContactResolver>,
        clock: Arc<dyn Clock>,
        switch: Arc<dyn Switch>,
    ) -> Result<Arc<EmbeddedEngine>> {
        Self::build(config, contacts, clock, None, Some(switch)).await
    }

    /// A durable engine: starts from what the last process saved and commits every change
    /// through `sink` before acknowledging it.
    /// `switch`: the telephony platform; `None` for the simulated switch.
    pub async fn durable(
        config: &TelephonyConfig,
        contacts: Arc<dyn ContactResolver>,
        clock: Arc<dyn Clock>,
        sink: Arc<dyn CommitSink>,
        restored: RestoredState,
        switch: Option<Arc<dyn Switch>>,
    ) -> Result<Arc<EmbeddedEngine>> {
        let engine = Self::build(config, contacts, clock, Some((sink, restored)), switch).await?;
        // Tell the switch where every agent is, let the dialers and the ACD move, and save
        // what the restore changed (wrap-ups of calls that died with the process).
        engine.shared.change(|inner| {
            inner.resync_presence();
            inner.run();
        });
        engine.shared.flush().await?;
        Ok(engine)
    }

    async fn build(
        config: &TelephonyConfig,
        contacts: Arc<dyn ContactResolver>,
        clock: Arc<dyn Clock>,
        durable: Option<(Arc<dyn CommitSink>, RestoredState)>,
        switch: Option<Arc<dyn Switch>>,
    ) -> Result<Arc<EmbeddedEngine>> {
        let (switch, sim): (Arc<dyn Switch>, _) = match switch {
            Some(switch) => (switch, None),
            None => {
                let sim = Arc::new(SimulatedSwitch::new(Duration::from_secs(
                    config.dial_timeout_secs.max(1),
                )));
                (sim.clone(), Some(sim))
            }
        };
        let agents = config.agents.clone();
        let (roster, demo, decoy_hash) = tokio::task::spawn_blocking(move || {
            let (roster, demo) = roster::build(&agents)?;
            let model = roster.first().map(|r| r.password_hash.as_str()).unwrap_or("");
            let decoy = crate::password::decoy_like(model);
            Ok::<_, TelephonyError>((roster, demo, decoy))
        })
        .await
        .map_err(|e| TelephonyError::Internal(format!("roster hashing task failed: {e}")))??;
        let campaigns = campaign::build(&config.effective_campaigns())?;
        let mut rest_states = std::collections::BTreeMap::new();
        for rest in &config.rest_states {
            if rest_states.insert(rest.id, rest.name.clone()).is_some() {
                return Err(TelephonyError::Config(format!(
                    "rest state {} appears twice",
                    rest.id
                )));
            }
        }
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let wake = Arc::new(Notify::new());
        let mut inner = Inner::new(
            roster,
            campaigns,
            rest_states,
            Duration::from_secs(config.ring_timeout_secs.max(1)),
            clock,
            events.clone(),
            wake.clone(),
        );
        inner.routes_calls = switch.routes_calls();
        let sink = match durable {
            Some((sink, restored)) => {
                inner.journal = Some(durable::Journal::default());
                let users: Vec<AgentId> = restored.agents.iter().map(|a| a.user.clone()).collect();
                inner.restore(restored);
                if let Some(journal) = inner.journal.as_mut() {
                    journal.agents.extend(users);
                }
                Some(sink)
            }
            None => None,
        };
        let shared = Arc::new(Shared {
            inner: Mutex::new(inner),
            events,
            wake: wake.clone(),
            stopped: AtomicBool::new(false),
            sink,
            gate: tokio::sync::Mutex::new(()),
            failing: AtomicBool::new(false),
            switch: switch.clone(),
            resolver: contacts.clone(),
            owners: std::sync::OnceLock::new(),
        });
        switch.attach(SwitchInput {
            shared: Arc::downgrade(&shared),
        });
        tokio::spawn(run_timers(Arc::downgrade(&shared), wake));
        if demo {
            tracing::warn!(
                "telephony: no agents configured, running the demo roster (agent1-agent3, super1, \
                 password `demo`); the server only listens on loopback addresses"
            );
        }
        Ok(Arc::new(EmbeddedEngine {
            shared,
            demo,
            sim,
            decoy_hash,
        }))
    }

    /// A call arrives from the telephony platform (core intake; see [`intake`]).
    pub async fn call_arrived(&self, call: InboundCall) -> Result<CallId> {
        Ok(intake(&self.shared, call).await?.call_id)
    }

    /// Where a switch sends its events (the same handle it got when attached).
    pub fn switch_input(&self) -> SwitchInput {
        SwitchInput {
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// True when running the public demo roster.
    pub fn is_demo(&self) -> bool {
        self.demo
    }

    /// The customers' and devices' side, for demos and tests.
    pub fn simulation(&self) -> Simulation {
        Simulation {
            shared: self.shared.clone(),
            switch: self.sim.clone(),
        }
    }

    /// Adds leads to an outbound campaign (each looked up / inserted in the campaign's
    /// database first) and runs its dialer, whatever the switch.
    pub async fn load_leads(&self, campaign: CampaignId, leads: Vec<LeadInput>) -> Result<usize> {
        self.shared.load_leads(campaign, leads).await
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> Result<T>) -> Result<T> {
        f(&mut self.shared.lock())
    }

    async fn apply<T>(&self, f: impl FnOnce(&mut Inner) -> Result<T>) -> Result<T> {
        self.shared.apply(f).await
    }
}

impl Drop for EmbeddedEngine {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }
}

/// Fires due timers and saves what they and the simulation changed; sleeps until the next
/// timer, a new one, or a change to save (a failed save is retried every second).
async fn run_timers(shared: Weak<Shared>, wake: Arc<Notify>) {
    loop {
        let next = {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            if shared.stopped.load(Ordering::SeqCst) {
                return;
            }
            let next = shared.change(|inner| {
                loop {
                    let Some((&key, _)) = inner.timers.first_key_value() else {
                        break None;
                    };
                    if key.0 > Instant::now() {
                        break Some(key.0);
                    }
                    if let Some(timer) = inner.timers.remove(&key) {
                        inner.fire(timer);
                    }
                }
            });
            match shared.flush().await {
                Ok(()) => next,
                Err(_) => Some(next.map_or(Instant::now() + Duration::from_secs(1), |n| {
                    n.min(Instant::now() + Duration::from_secs(1))
                })),
            }
        };
        match next {
            Some(deadline) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => {}
                    _ = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}

impl Inner {
    fn fire(&mut self, timer: Timer) {
        match timer {
            Timer::RingTimeout { call, agent, offer } => self.ring_timeout(call, &agent, offer),
            Timer::AutoRelease { agent, call } => self.auto_release(&agent, call),
            Timer::CallbackDue(id) => self.callback_due(id),
            Timer::MaxWait(id) => self.max_wait_passed(id),
        }
    }
}

impl Inner {
    /// Applies what the switch reports.
    pub fn switch_event(&mut self, event: SwitchEvent) -> Result<()> {
        match event {
            SwitchEvent::Offered { call, device } => self.offered_by_switch(call, &device),
            SwitchEvent::DeviceAnswered { device } => {
                let user = self
                    .agent_on(&device)
                    .ok_or_else(|| TelephonyError::UnknownDevice(device.clone()))?;
                self.agent_answers(&user)
            }
            SwitchEvent::CustomerAnswered { call } => self.customer_answers(call),
            SwitchEvent::CustomerUnreached { call, reason } => {
                if !self.calls.contains_key(&call) {
                    return Err(TelephonyError::UnknownCall(call.0));
                }
                self.customer_unreached(call, reason);
                Ok(())
            }
            SwitchEvent::CustomerHungUp { call } => self.customer_hangs_up(call),
            SwitchEvent::CustomerDigits { call, digits } => self.customer_presses(call, &digits),
            SwitchEvent::RingNoAnswer { call, device } => self.rang_out_on_switch(call, &device),
            SwitchEvent::Ended { call, reason } => {
                if !self.calls.contains_key(&call) {
                    return Err(TelephonyError::UnknownCall(call.0));
                }
                self.end_call(call, reason);
                Ok(())
            }
            SwitchEvent::LeftQueue { call, for_good } => {
                self.left_queue(call, for_good);
                Ok(())
            }
            SwitchEvent::MemberPaused { device, reason } => self.paused_on_switch(&device, reason),
            SwitchEvent::Availability { available, reason } => {
                let logged_in: Vec<AgentId> = self
                    .agents
                    .iter()
                    .filter(|(_, a)| a.session.is_some())
                    .map(|(user, _)| user.clone())
                    .collect();
                for user in logged_in {
                    self.emit(
                        Some(&user),
                        crate::telephony::events::Event::TelephonyStatus {
                            available,
                            reason: reason.clone(),
                        },
                    );
                }
                Ok(())
            }
        }
    }
}

/// The core's call intake: CONTACTO_INSERT_SALESFORCE (find the contact by DATA or ANI in the
/// campaign's database, insert it when missing), then a call id minted once, the Neotel data,
/// and the call queued for the ACD (or for the switch's own routing). Answers once saved.
/// Outside the campaign's opening hours the call is recorded as missed and not queued.
pub async fn intake(shared: &Shared, call: InboundCall) -> Result<Arrived> {
    intake_with(shared, call, true).await
}

/// As [`intake`]; `asked`: the platform asks before it routes the call (the dialplan's intake),
/// so the campaign's opening hours apply and the caller's record owner is looked up (owner
/// routing). A call the platform queued by itself is in its queue already: it is taken in
/// whatever the hours, and its owner is not looked up (nothing can go to the owner first any
/// more, and the switch's event loop must not wait for Salesforce).
pub async fn intake_with(shared: &Shared, call: InboundCall, asked: bool) -> Result<Arrived> {
    let (campaign, database_id) = {
        let inner = shared.lock();
        // Taken in already under this name (the dialplan asked, then the driver saw it).
        if let Some(known) = call.reference.as_ref().and_then(|r| inner.references.get(r))
            && let Some(existing) = inner.calls.get(known)
        {
            return Ok(Arrived {
                call_id: *known,
                clavesf: existing.clavesf.clone().unwrap_or_default(),
                closed: false,
            });
        }
        let campaign = inner
            .campaigns
            .values()
            .find(|c| c.queue == call.queue)
            .ok_or_else(|| TelephonyError::UnknownQueue(call.queue.clone()))?;
        (campaign.id, campaign.database_id)
    };
    let ani = call.ani.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty());
    let lookup = InboundLookup {
        data: call.data.clone(),
        ani: ani.clone(),
        database_id,
    };
    // The contact and the record's owner are looked up together, outside the lock; the owner
    // lookup answers within its timeout whatever Salesforce does.
    let (found, owner) = tokio::join!(
        shared.resolver.contacto_insert_salesforce(&lookup),
        owner::lookup(shared, ani.as_deref().filter(|_| asked), campaign),
    );
    let found = found.map_err(|e| TelephonyError::Contacts(e.to_string()))?;
    let clavesf = found.clavesf.to_string();
    let (id, closed) = shared.change(|inner| {
        let id = inner.new_call_id()?;
        let arrived_at = inner.clock.now();
        let mut data = NeotelData {
            call_id: id.0,
            call_campaing: Some(campaign.0),
            call_dialer: Some("inbound".to_owned()),
            call_queue: Some(call.queue.clone()),
            call_reason: Some("inbound".to_owned()),
            phone_number: ani.clone(),
            crm_variables: call.variables.clone(),
            ..NeotelData::default()
        };
        call::contact_data(&mut data, &found);
        let entry = state::Call {
            direction: crate::telephony::types::Direction::Inbound,
            campaign: Some(campaign),
            phone: ani.unwrap_or_default(),
            data,
            clavesf: Some(clavesf.clone()),
            state: crate::telephony::types::CallState::Queued,
            agent: None,
            predictive: false,
            transfer: None,
            conference: None,
            reference: call.reference.clone(),
            owner: inner.owner_match(owner),
            progress: state::Progress {
                arrived_at: Some(arrived_at),
                ..Default::default()
            },
        };
        // Closed: the call is not queued, only recorded as missed; the platform is told.
        if asked && inner.outside_hours(campaign) {
            inner.emit_missed(id, &entry, crate::telephony::events::MissedReason::OutsideHours);
            return Ok::<_, TelephonyError>((id, true));
        }
        inner.calls.insert(id, entry);
        if let Some(reference) = &call.reference {
            inner.references.insert(reference.clone(), id);
        }
        inner.enqueue(id, false);
        inner.start_max_wait(id);
        inner.offer_to_owner_first(id);
        inner.run();
        Ok((id, false))
    })?;
    shared.flush().await?;
    Ok(Arrived {
        call_id: id,
        clavesf,
        closed,
    })
}

/// A call taken in: its id and CLAVESF (`idContacto-Data`), what the dialplan needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrived {
    pub call_id: CallId,
    pub clavesf: String,
    /// The campaign is outside its opening hours: the call was not queued (it is recorded as
    /// missed); the platform should not queue it either (voicemail, a message).
    pub closed: bool,
}

#[async_trait]
impl Telephony for EmbeddedEngine {
    fn subscribe(&self) -> broadcast::Receiver<EventEnvelope> {
        self.shared.events.subscribe()
    }

    async fn flush(&self) -> Result<()> {
        self.shared.flush().await
    }

    async fn intake(&self, call: InboundCall) -> Result<Arrived> {
        intake(&self.shared, call).await
    }

    async fn login(&self, request: LoginRequest) -> Result<Position> {
        let device = request.device.trim().to_owned();
        if device.is_empty() {
            return Err(TelephonyError::EmptyDevice);
        }
        // An unknown user costs one password check too: the answer's timing tells nothing.
        let known = self.with(|inner| {
            Ok(inner
                .agent(&request.user)
                .ok()
                .map(|agent| (agent.entry.password_hash.clone(), agent.entry.role)))
        })?;
        let hash = known
            .as_ref()
            .map(|(hash, _)| hash.clone())
            .unwrap_or_else(|| self.decoy_hash.clone());
        let verified = crate::password::verify(request.password.clone(), hash)
            .await
            .map_err(|_| TelephonyError::Busy)?;
        if known.is_none() {
            return Err(TelephonyError::UnknownAgent(request.user));
        }
        if !verified {
            return Err(TelephonyError::WrongPassword(request.user));
        }
        if let (Some(required), Some((_, role))) = (request.role, known.as_ref())
            && *role != required
        {
            return Err(TelephonyError::WrongRole {
                user: request.user,
                required,
            });
        }
        self.shared
            .switch
            .check_device(&device)
            .await
            .map_err(|reason| TelephonyError::DeviceRefused {
                device: device.clone(),
                reason,
            })?;
        self.apply(|inner| inner.login(&request.user, &device)).await
    }

    async fn logout(&self, agent: &AgentId) -> Result<()> {
        self.apply(|inner| inner.logout(agent)).await
    }

    async fn login_campaign(&self, agent: &AgentId, campaign: CampaignId) -> Result<()> {
        let queue = self.with(|inner| Ok(inner.campaign(campaign)?.queue.clone()))?;
        self.shared
            .switch
            .check_queue(&queue)
            .await
            .map_err(|reason| TelephonyError::QueueRefused { queue, reason })?;
        self.apply(|inner| inner.login_campaign(agent, campaign)).await
    }

    async fn logout_campaign(&self, agent: &AgentId) -> Result<()> {
        self.apply(|inner| inner.logout_campaign(agent)).await
    }

    async fn pause(&self, agent: &AgentId, reason: PauseReason) -> Result<()> {
        self.apply(|inner| inner.pause(agent, reason)).await
    }

    async fn unpause(&self, agent: &AgentId) -> Result<()> {
        self.apply(|inner| inner.unpause(agent)).await
    }

    async fn dial(&self, agent: &AgentId, request: DialRequest) -> Result<CallId> {
        let database_id = self.with(|inner| inner.check_dial(agent, &request))?;
        let found = match &request.click_to_dial {
            Some(record) => {
                let lookup = InboundLookup {
                    data: Some(record.crm_key.clone()),
                    ani: request.phone.as_ref().map(|p| p.trim().to_owned()),
                    database_id,
                };
                let found = self
                    .shared
                    .resolver
                    .contacto_insert_salesforce(&lookup)
                    .await
                    .map_err(|e| TelephonyError::Contacts(e.to_string()))?;
                Some(found)
            }
            None => None,
        };
        self.apply(|inner| inner.dial(agent, request, found)).await
    }

    async fn hangup(&self, agent: &AgentId, call: Option<CallId>) -> Result<()> {
        self.apply(|inner| inner.hangup(agent, call)).await
    }

    async fn position(&self, agent: &AgentId) -> Result<Position> {
        self.with(|inner| inner.position(agent))
    }

    async fn update_contact(&self, agent: &AgentId, disposition: Disposition) -> Result<()> {
        self.apply(|inner| inner.update_contact(agent, disposition)).await
    }

    async fn crm_unavailable(&self, agent: &AgentId) -> Result<()> {
        self.apply(|inner| inner.crm_unavailable(agent)).await
    }

    async fn crm_available(&self, agent: &AgentId) -> Result<()> {
        self.apply(|inner| inner.crm_available(agent)).await
    }

    async fn crm_showing_contact(&self, agent: &AgentId) -> Result<()> {
        self.apply(|inner| inner.crm_showing_contact(agent)).await
    }

    async fn join_conference(&self, agent: &AgentId) -> Result<()> {
        self.apply(|inner| inner.join_conference(agent)).await
    }

    async fn invite_participant(&self, agent: &AgentId, participant: Participant) -> Result<()> {
        self.apply(|inner| inner.invite_participant(agent, participant))
            .await
    }

    async fn kick_all(&self, agent: &AgentId) -> Result<()> {
        self.apply(|inner| inner.kick_all(agent)).await
    }

    async fn end_conference(&self, agent: &AgentId) -> Result<()> {
        self.apply(|inner| inner.end_conference(agent)).await
    }

    async fn execute_task(&self, agent: &AgentId, task: Task, params: TaskParams) -> Result<()> {
        self.apply(|inner| inner.execute_task(agent, task, params)).await
    }

    async fn send_dtmf(&self, agent: &AgentId, call: Option<CallId>, digits: &str) -> Result<()> {
        self.apply(|inner| inner.send_dtmf(agent, call, digits)).await
    }

    async fn transfer(&self, agent: &AgentId, call: Option<CallId>, request: TransferRequest) -> Result<()> {
        self.apply(|inner| inner.transfer(agent, call, request)).await
    }

    async fn complete_transfer(&self, agent: &AgentId) -> Result<()> {
        self.apply(|inner| inner.complete_transfer(agent)).await
    }

    async fn cancel_transfer(&self, agent: &AgentId) -> Result<()> {
        self.apply(|inner| inner.cancel_transfer(agent)).await
    }

    async fn monitor(&self, agent: &AgentId, request: MonitorRequest) -> Result<()> {
        self.apply(|inner| inner.monitor(agent, request)).await
    }

    async fn end_monitor(&self, agent: &AgentId) -> Result<()> {
        self.apply(|inner| inner.end_monitor(agent)).await
    }

    async fn schedule_callback(&self, agent: &AgentId, request: ScheduleCallbackRequest) -> Result<Callback> {
        self.apply(|inner| inner.schedule_callback(agent, request)).await
    }

    async fn directory(&self, agent: &AgentId) -> Result<Directory> {
        self.with(|inner| inner.directory(agent))
    }
}
