//! Supervisor monitoring: listen (hear the agent's calls) or assist (whisper to the agent, the
//! customer does not hear). Monitoring follows the agent across calls until EndMonitor or the
//! agent logs out.

use super::state::{Inner, Resume};
use crate::telephony::api::Method;
use crate::telephony::error::{Result, TelephonyError};
use crate::telephony::events::Event;
use crate::telephony::switch::SwitchCommand;
use crate::telephony::types::{AgentId, AgentState, MonitorRequest, MonitorView, Role};

use AgentState::*;

impl Inner {
    pub fn monitor(&mut self, user: &AgentId, request: MonitorRequest) -> Result<()> {
        let session = self.session(user)?;
        if self.agent(user)?.entry.role != Role::Supervisor {
            return Err(TelephonyError::Forbidden);
        }
        if request.target == *user {
            return Err(TelephonyError::SelfTarget(Method::Monitor));
        }
        let state = session.state;
        let pause = session.pause;
        self.require(user, Method::Monitor, &[LoggedIn, Available, Paused, Monitoring])?;
        let target = self
            .agents
            .get(&request.target)
            .ok_or_else(|| TelephonyError::UnknownUser(request.target.clone()))?;
        if target.session.is_none() {
            return Err(TelephonyError::UserNotAvailable(request.target.clone()));
        }
        let previous = self.session(user)?.monitoring.clone();
        let target_device = target
            .session
            .as_ref()
            .map(|s| s.device.clone())
            .unwrap_or_default();
        let session = self.session_mut(user)?;
        let supervisor_device = session.device.clone();
        if state != Monitoring {
            session.resume = Some(Resume { state, pause });
            session.state = Monitoring;
            session.pause = None;
        }
        session.monitoring = Some(MonitorView {
            target: request.target.clone(),
            mode: request.mode,
        });
        if let Some(previous) = previous.filter(|p| p.target != request.target) {
            self.emit(
                Some(user),
                Event::MonitorEnded {
                    supervisor: user.clone(),
                    target: previous.target,
                },
            );
        }
        self.command(SwitchCommand::Spy {
            supervisor_device,
            target_device,
            mode: request.mode,
        });
        self.emit(
            Some(user),
            Event::MonitorStarted {
                supervisor: user.clone(),
                target: request.target,
                mode: request.mode,
            },
        );
        self.emit_position(user);
        Ok(())
    }

    pub fn end_monitor(&mut self, user: &AgentId) -> Result<()> {
        let session = self.session(user)?;
        if session.state != Monitoring {
            return Err(TelephonyError::NotMonitoring);
        }
        self.stop_monitoring(user);
        Ok(())
    }

    fn stop_monitoring(&mut self, user: &AgentId) {
        let Ok(session) = self.session_mut(user) else {
            return;
        };
        let Some(view) = session.monitoring.take() else {
            return;
        };
        let supervisor_device = session.device.clone();
        match session.resume.take() {
            Some(Resume { state, pause }) => {
                session.state = state;
                session.pause = pause;
            }
            None => session.state = session.idle_state(),
        }
        self.command(SwitchCommand::EndSpy { supervisor_device });
        self.emit(
            Some(user),
            Event::MonitorEnded {
                supervisor: user.clone(),
                target: view.target,
            },
        );
        self.emit_position(user);
    }

    /// Ends every monitoring of `target` (it logged out).
    pub fn end_monitors_of(&mut self, target: &AgentId) {
        let supervisors: Vec<AgentId> = self
            .agents
            .iter()
            .filter(|(_, a)| {
                a.session
                    .as_ref()
                    .and_then(|s| s.monitoring.as_ref())
                    .is_some_and(|m| m.target == *target)
            })
            .map(|(user, _)| user.clone())
            .collect();
        for supervisor in supervisors {
            self.stop_monitoring(&supervisor);
        }
    }
}
