//! The server's side of the bridge: which era and transport the server
//! speaks, the translation between eras, and sending.
//!
//! [`Upstream::forward`] takes one host message and makes sure the server
//! gets it; answers reach the host through [`Downstream`], never as a return
//! value. The first message finds out the era (E1) and the transport (T8),
//! following `--protocol` and `--transport`; what worked is kept, and
//! followed when the server changes era. The transports themselves, and the
//! one link they share, are in [`crate::transport`].
//!
//! Nothing here knows about stdio.

mod relay;
mod translation;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::auth::Authorizer;
use crate::config::{Config, ProtocolChoice, TransportStrategy};
use crate::error::UpstreamError;
use crate::host::downstream::Downstream;
use crate::http::Http;
use crate::protocol::era::{self, HostProfile};
use crate::protocol::jsonrpc::{IdKey, Message, RawId};
use crate::transport::legacy_sse::LegacySse;
use crate::transport::modern::Modern;
use crate::transport::streamable::Streamable;
use crate::transport::{Inbound, Link, Opening, Origin, Stage};
use translation::{LegacyHost, Outbound, Translation};

/// Why trying one transport failed.
enum Tried {
    /// The failure suggests the server speaks the other transport (T8).
    OtherMayWork(UpstreamError),
    /// It failed in a way the other transport would not fix.
    Failed(UpstreamError),
}

impl Tried {
    fn classify(e: UpstreamError) -> Tried {
        match e.suggests_other_transport() {
            true => Tried::OtherMayWork(e),
            false => Tried::Failed(e),
        }
    }

    fn error(self) -> UpstreamError {
        match self {
            Tried::OtherMayWork(e) | Tried::Failed(e) => e,
        }
    }
}

/// One of the two transports of the handshake era (T8).
#[derive(Clone, Copy, Debug)]
enum Which {
    Streamable,
    Legacy,
}

/// One try over one transport, as [`Upstream::by_strategy`] runs it.
type Attempt<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, Tried>> + Send + 'a>>;

/// The transport that worked.
enum Transport {
    Streamable(Arc<Streamable>),
    Legacy(Arc<LegacySse>),
    /// The 2026-07-28 revision (E1, E3–E7).
    Modern(Arc<Modern>),
}

/// The connection to the remote server.
pub struct Upstream {
    link: Arc<Link>,
    /// The translation stage, chosen by detection; pass-through until then
    /// and unless it chooses another. It changes only when the server
    /// changes era under a handshake host (E1). The one place it is kept:
    /// the host's messages read it here on their way out, and the link,
    /// whose stage this same cell is, on the server's way in.
    translation: Arc<CurrentTranslation>,
    strategy: TransportStrategy,
    protocol: ProtocolChoice,
    /// The transport in use; replaced when the server changes era (E1).
    transport: std::sync::RwLock<Option<Arc<Transport>>>,
    detecting: Mutex<()>,
    /// The last failed detection, told again to the messages right behind
    /// the one that met it instead of asking the server again (issue 16).
    failed_detection: std::sync::Mutex<Option<(Instant, UpstreamError)>>,
}

/// The translation in force, in one cell: read by `Upstream::send` for
/// the host's messages, and, as the link's [`Stage`], for the server's.
#[derive(Default)]
struct CurrentTranslation(std::sync::RwLock<Arc<Translation>>);

impl CurrentTranslation {
    fn get(&self) -> Arc<Translation> {
        Arc::clone(&self.0.read().expect("translation lock"))
    }

    fn set(&self, translation: Translation) {
        *self.0.write().expect("translation lock") = Arc::new(translation);
    }
}

impl Stage for CurrentTranslation {
    fn inbound(
        &self,
        msg: Message,
        origin: Origin<'_>,
        pending: &dyn Fn(&IdKey) -> bool,
    ) -> Inbound {
        self.get().inbound(msg, origin, pending)
    }
}

/// How long a failed detection is told again without asking the server:
/// long enough for the messages a host sends right after `initialize`,
/// short enough that a server restarting is found soon.
const DETECTION_MEMORY: Duration = Duration::from_secs(5);

impl Upstream {
    pub fn new(config: &Config, downstream: Arc<Downstream>) -> Result<Self, UpstreamError> {
        let http = Http::new(&config.http_settings())?;
        let auth = config.auth.clone().map(|options| {
            Arc::new(Authorizer::new(
                http.for_oauth(),
                config.url.clone(),
                options,
            ))
        });
        let link = Link::new(
            http,
            config.url.clone(),
            downstream,
            auth,
            config.header_command.clone(),
        );
        let translation = Arc::new(CurrentTranslation::default());
        link.set_stage(Arc::clone(&translation) as _);
        Ok(Upstream {
            link: Arc::new(link),
            translation,
            strategy: config.transport,
            protocol: config.protocol,
            transport: std::sync::RwLock::new(None),
            detecting: Mutex::new(()),
            failed_detection: std::sync::Mutex::new(None),
        })
    }

    /// Sends one host message to the server.
    pub async fn forward(&self, msg: &Message) -> Result<(), UpstreamError> {
        if msg.is_request("initialize") {
            self.link.keep_opening(Opening::Host(msg.clone()));
            // The host starts over: the user asked to reconnect, which is
            // worth a new detection and a new sign-in after one that did
            // not complete.
            self.failed_detection.lock().expect("detection lock").take();
            if let Some(auth) = &self.link.auth {
                auth.allow_new_sign_in();
                auth.host_connecting(|| HostProfile::from_initialize(msg)?.client_info);
            }
        } else if let Some(auth) = &self.link.auth
            && msg.request_id().is_some()
        {
            auth.host_first_message(|| HostProfile::from_envelope(msg)?.client_info);
        }
        let transport = match self.current() {
            Some(transport) => transport,
            None => {
                let _detecting = self.detecting.lock().await;
                match self.current() {
                    Some(transport) => transport,
                    None => {
                        if let Some(again) = self.recent_detection_failure() {
                            return Err(again);
                        }
                        self.link.load_headers().await?;
                        return self.detect(msg).await.map_err(|e| self.remember(e));
                    }
                }
            }
        };
        match self.send(&transport, msg).await {
            Err(e) if e.may_mean_era_change() && !msg.expects_no_answer() => {
                match self.redetect(&transport).await {
                    Some(next) => self.send(&next, msg).await,
                    None => Err(e),
                }
            }
            other => other,
        }
    }

    /// A detection that failed a moment ago, if any, to be told again.
    fn recent_detection_failure(&self) -> Option<UpstreamError> {
        let failed = self.failed_detection.lock().expect("detection lock");
        let (at, first) = failed.as_ref()?;
        (at.elapsed() < DETECTION_MEMORY).then(|| first.again())
    }

    /// Keeps a failed detection for [`DETECTION_MEMORY`], when it says
    /// something lasting about the server.
    fn remember(&self, e: UpstreamError) -> UpstreamError {
        if e.is_lasting() {
            *self.failed_detection.lock().expect("detection lock") =
                Some((Instant::now(), e.again()));
        }
        e
    }

    fn translation(&self) -> Arc<Translation> {
        self.translation.get()
    }

    /// Sets the translation for both ways at once: there is one cell.
    fn set_translation(&self, translation: Translation) {
        self.translation.set(translation);
    }

    fn current(&self) -> Option<Arc<Transport>> {
        self.transport.read().expect("transport lock").clone()
    }

    fn set_transport(&self, transport: Transport) -> Arc<Transport> {
        let transport = Arc::new(transport);
        *self.transport.write().expect("transport lock") = Some(Arc::clone(&transport));
        transport
    }

    /// The server refused what worked before: it may have been upgraded to,
    /// or rolled back from, the 2026-07-28 revision (E1: re-probe when the
    /// answer fails). For a legacy host the bridge starts over in the era
    /// the server speaks now; `None` if nothing changed.
    async fn redetect(&self, failed: &Arc<Transport>) -> Option<Arc<Transport>> {
        let _detecting = self.detecting.lock().await;
        if let Some(now) = self.current()
            && !Arc::ptr_eq(&now, failed)
        {
            return Some(now);
        }
        // Only a host that opened with `initialize` is followed: a
        // 2026-07-28 host's translation does not change.
        let init = self.link.host_initialize()?;
        let profile = HostProfile::from_initialize(&init)?;
        let link = &self.link;
        let next = match &**failed {
            Transport::Streamable(_) | Transport::Legacy(_) => {
                let modern = Modern::connect(Arc::clone(link), &profile).await.ok()??;
                crate::telemetry::lifecycle::translating(modern.version(), false);
                // The host initialized long ago: listen now.
                self.speak_for_legacy_host(&modern, profile).listen();
                Transport::Modern(modern)
            }
            Transport::Modern(_) => {
                let streamable = Streamable::new(Arc::clone(link));
                let replay = init.with_id(&link.downstream.private_id("reinit"))?;
                let answer = streamable.initialize_for_bridge(&replay).await.ok()?;
                let version = answer.negotiated_protocol_version()?;
                crate::telemetry::lifecycle::negotiated_again(&version);
                Transport::Streamable(streamable)
            }
        };
        close(failed).await;
        let next = self.set_transport(next);
        if let Transport::Streamable(_) = &*next {
            // After the transport: a message between the two is carried by
            // the old translation, fails as the era changed, and is sent
            // again on the new transport.
            self.set_translation(Translation::PassThrough);
        }
        Some(next)
    }

    /// Speaks the 2026-07-28 revision over `modern` for a host that opened
    /// with `initialize` (E3): the translation from here on.
    fn speak_for_legacy_host(&self, modern: &Arc<Modern>, host: HostProfile) -> Arc<LegacyHost> {
        let stage = Arc::new(LegacyHost::new(
            Arc::clone(&self.link),
            Arc::clone(modern),
            host,
        ));
        self.set_translation(Translation::LegacyHost(Arc::clone(&stage)));
        stage
    }

    /// Sends one host message through the translation stage: as it is,
    /// answered by the bridge, turned into what continues a call, or
    /// carried by the stage itself.
    async fn send(&self, transport: &Transport, msg: &Message) -> Result<(), UpstreamError> {
        let translation = self.translation();
        match translation.outbound(msg).await? {
            Outbound::Send => send(transport, msg).await,
            Outbound::Carried => Ok(()),
            Outbound::Answer(answer) => {
                self.link.deliver(answer).await;
                Ok(())
            }
            Outbound::Continue { to_server, to_host } => {
                for answer in &to_server {
                    send(transport, answer).await?;
                }
                if let Some(next_round) = to_host {
                    self.link.deliver(next_round).await;
                }
                Ok(())
            }
        }
    }

    /// Finds the server's era (E1) and transport (T8) with the first message.
    ///
    /// A legacy host's `initialize` goes first, stating its version the
    /// 2026-07-28 way (`MCP-Protocol-Version`, `_meta`): legacy and dual-era
    /// servers answer it as always, and the host keeps its own era with
    /// nothing translated (E2); a modern-only server refuses it, and then
    /// `server/discover` confirms the era and the bridge translates (E3). A
    /// 2026-07-28 host's first message is preceded by `server/discover`; a
    /// legacy server is then initialized on its behalf (E8).
    async fn detect(&self, msg: &Message) -> Result<(), UpstreamError> {
        match self.protocol {
            ProtocolChoice::Handshake => self.detect_transport(msg).await,
            ProtocolChoice::Modern => self.detect_for_modern_host(msg).await,
            ProtocolChoice::Detect if era::host_is_modern(msg) => {
                self.detect_for_modern_host(msg).await
            }
            ProtocolChoice::Detect if msg.is_request("initialize") => {
                self.detect_for_legacy_host(msg).await
            }
            ProtocolChoice::Detect => self.detect_transport(msg).await,
        }
    }

    /// A legacy host's `initialize` as the era probe (E1, E2, E3), over the
    /// transports `--transport` names.
    async fn detect_for_legacy_host(&self, init: &Message) -> Result<(), UpstreamError> {
        self.by_strategy(|which| match which {
            Which::Streamable => Box::pin(self.probe_era(init)),
            Which::Legacy => Box::pin(self.try_legacy(init)),
        })
        .await
    }

    /// Sends a legacy host's `initialize` over Streamable HTTP, stating its
    /// version: a handshake server answers it and the host keeps its era
    /// (E2); a refusal, then an answer to `server/discover`, means a
    /// 2026-07-28-only server, for which the bridge translates (E3).
    async fn probe_era(&self, init: &Message) -> Result<(), Tried> {
        let link = &self.link;
        let profile = HostProfile::from_initialize(init);
        let probe = profile
            .as_ref()
            .filter(|p| era::HANDSHAKE_VERSIONS.contains(&p.version.as_str()))
            .and_then(|p| era::with_envelope(init.raw(), None, &p.envelope(&p.version, None), &[]))
            .and_then(|raw| Message::parse(raw).ok())
            .unwrap_or_else(|| init.clone());
        let streamable = Streamable::new(Arc::clone(link));
        let first = streamable.send_capturing(&probe).await;
        let refused = match &first {
            Ok(answer) => answer
                .as_ref()
                .is_none_or(|a| a.negotiated_protocol_version().is_none()),
            Err(UpstreamError::Status { status, .. }) => status.is_client_error(),
            Err(_) => false,
        };
        if refused {
            let speak_for = profile.clone().unwrap_or_default();
            match Modern::connect(Arc::clone(link), &speak_for).await {
                Ok(Some(modern)) => {
                    crate::telemetry::lifecycle::translating(modern.version(), true);
                    let stage = self.speak_for_legacy_host(&modern, speak_for);
                    self.set_transport(Transport::Modern(modern));
                    return stage.carry(init).await.map_err(Tried::Failed);
                }
                Ok(None) => {}
                Err(e) => tracing::debug!("server/discover failed too: {e}"),
            }
        }
        let answer = first.map_err(Tried::classify)?;
        match answer
            .as_ref()
            .and_then(Message::negotiated_protocol_version)
        {
            Some(version) => {
                crate::telemetry::lifecycle::connected("Streamable HTTP");
                crate::telemetry::lifecycle::negotiated(&version);
            }
            // Its answer (an error, most likely) goes to the host.
            None => tracing::debug!("the server did not accept initialize"),
        }
        self.set_transport(Transport::Streamable(streamable));
        if let Some(answer) = answer {
            link.deliver(answer).await;
        }
        Ok(())
    }

    /// A 2026-07-28 host: pass through to a modern server, or initialize a
    /// legacy one on its behalf and answer its `server/discover` (E8).
    async fn detect_for_modern_host(&self, msg: &Message) -> Result<(), UpstreamError> {
        let link = &self.link;
        let modern_host = era::host_is_modern(msg);
        let profile = match modern_host {
            true => HostProfile::from_envelope(msg),
            false => HostProfile::from_initialize(msg),
        }
        .unwrap_or_default();
        if let Some(modern) = Modern::connect(Arc::clone(link), &profile).await? {
            // Said as fields for `watch`, `status` and recordings (issue 27:
            // a 2026-07-28 host on a dual-era server was listed as "not
            // connected yet", its era as translated, while passed through).
            let era = match modern_host {
                true => modern.version().to_owned(),
                false => format!("{} (translated)", modern.version()),
            };
            crate::telemetry::lifecycle::connected_speaking("Streamable HTTP", &era);
            if !modern_host {
                // `--protocol modern` for a host that opens with
                // `initialize`; the translation before the transport, so
                // no message meets the one without the other.
                self.speak_for_legacy_host(&modern, profile);
            }
            let transport = self.set_transport(Transport::Modern(modern));
            return self.send(&transport, msg).await;
        }
        if self.protocol == ProtocolChoice::Modern || !modern_host {
            return Err(UpstreamError::NoTransport {
                url: link.shown_url.clone(),
                tried: "MCP 2026-07-28",
                hint: "It did not answer server/discover with a 2026-07-28 version; drop --protocol modern".into(),
            });
        }
        tracing::info!(
            "the server speaks only the initialize handshake; initializing it for this 2026-07-28 host"
        );
        let init = initialize_for(&profile, &link.downstream.private_id("init"));
        link.keep_opening(Opening::Bridge(init.clone()));
        let (transport, answer) = self
            .by_strategy(|which| Box::pin(self.initialize_for_bridge(which, &init)))
            .await?;
        let discover = era::discover_result_from_initialize(&answer).ok_or_else(|| {
            UpstreamError::BadBody {
                url: link.shown_url.clone(),
                what: "an initialize answer that is not a result".into(),
            }
        })?;
        self.set_translation(Translation::modern_host(
            discover,
            era::server_info_of(&answer),
        ));
        let transport = self.set_transport(transport);
        self.send(&transport, msg).await
    }

    /// Initializes a handshake server on the bridge's account (E8) over
    /// one transport: the transport and the server's answer.
    async fn initialize_for_bridge(
        &self,
        which: Which,
        init: &Message,
    ) -> Result<(Transport, Message), Tried> {
        let link = Arc::clone(&self.link);
        match which {
            Which::Streamable => {
                let streamable = Streamable::new(link);
                let answer = streamable
                    .initialize_for_bridge(init)
                    .await
                    .map_err(Tried::classify)?;
                crate::telemetry::lifecycle::connected("Streamable HTTP");
                Ok((Transport::Streamable(streamable), answer))
            }
            Which::Legacy => {
                let legacy = LegacySse::connect(link).await.map_err(Tried::classify)?;
                match legacy.initialize_for_bridge(init).await {
                    Ok(answer) => Ok((Transport::Legacy(legacy), answer)),
                    Err(e) => {
                        legacy.close().await;
                        Err(Tried::Failed(e))
                    }
                }
            }
        }
    }

    /// Finds the server's transport with the first message (T8): the first
    /// choice, and on a sign that the server does not speak it, the other.
    async fn detect_transport(&self, msg: &Message) -> Result<(), UpstreamError> {
        self.by_strategy(|which| match which {
            Which::Streamable => Box::pin(self.try_streamable(msg)),
            Which::Legacy => Box::pin(self.try_legacy(msg)),
        })
        .await
    }

    /// Runs `attempt` over the transports `--transport` names, in its
    /// order: the second only on a sign that the server speaks it (T8).
    async fn by_strategy<'a, T>(
        &self,
        attempt: impl Fn(Which) -> Attempt<'a, T>,
    ) -> Result<T, UpstreamError> {
        let link = &self.link;
        match self.strategy {
            TransportStrategy::HttpOnly => attempt(Which::Streamable).await.map_err(Tried::error),
            TransportStrategy::SseOnly => attempt(Which::Legacy).await.map_err(Tried::error),
            TransportStrategy::HttpFirst => match attempt(Which::Streamable).await {
                Err(Tried::OtherMayWork(first)) => {
                    tracing::info!("Streamable HTTP failed ({first}); trying legacy HTTP+SSE");
                    attempt(Which::Legacy)
                        .await
                        .map_err(|second| both_failed(link, &first, &second.error()))
                }
                other => other.map_err(Tried::error),
            },
            TransportStrategy::SseFirst => match attempt(Which::Legacy).await {
                Err(Tried::OtherMayWork(first)) => {
                    tracing::info!("legacy HTTP+SSE failed ({first}); trying Streamable HTTP");
                    attempt(Which::Streamable)
                        .await
                        .map_err(|second| both_failed(link, &second.error(), &first))
                }
                other => other.map_err(Tried::error),
            },
        }
    }

    /// Tries Streamable HTTP; on failure, also says whether the failure
    /// suggests the server speaks the other transport.
    async fn try_streamable(&self, msg: &Message) -> Result<(), Tried> {
        let streamable = Streamable::new(Arc::clone(&self.link));
        match streamable.send(msg).await {
            Ok(()) => {
                crate::telemetry::lifecycle::connected("Streamable HTTP");
                self.set_transport(Transport::Streamable(streamable));
                Ok(())
            }
            Err(e) => Err(Tried::classify(e)),
        }
    }

    async fn try_legacy(&self, msg: &Message) -> Result<(), Tried> {
        let legacy = LegacySse::connect(Arc::clone(&self.link))
            .await
            .map_err(Tried::classify)?;
        self.set_transport(Transport::Legacy(Arc::clone(&legacy)));
        // Connected: whatever fails now is this transport's answer.
        legacy.send(msg).await.map_err(Tried::Failed)
    }

    /// Ends the session at the server (T6) and stops background streams.
    pub async fn close(&self) {
        if let Some(transport) = self.current() {
            close(&transport).await;
        }
    }
}

async fn close(transport: &Transport) {
    match transport {
        Transport::Streamable(s) => s.close().await,
        Transport::Legacy(l) => l.close().await,
        Transport::Modern(m) => m.close().await,
    }
}

async fn send(transport: &Transport, msg: &Message) -> Result<(), UpstreamError> {
    match transport {
        Transport::Streamable(s) => s.send(msg).await,
        Transport::Legacy(l) => l.send(msg).await,
        Transport::Modern(m) => m.send(msg).await,
    }
}

/// The `initialize` the bridge sends a legacy server for a 2026-07-28 host
/// (E8), under a private id.
fn initialize_for(profile: &HostProfile, id: &RawId) -> Message {
    let client_info = profile.client_info.clone().unwrap_or_else(|| {
        format!(
            "{{\"name\":\"mcp-tether\",\"version\":\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )
    });
    let params = format!(
        "{{\"protocolVersion\":\"{}\",\"capabilities\":{},\"clientInfo\":{client_info}}}",
        era::LATEST_HANDSHAKE,
        profile.capabilities,
    );
    crate::protocol::jsonrpc::request(id, "initialize", Some(&params))
}

fn both_failed(link: &Link, streamable: &UpstreamError, legacy: &UpstreamError) -> UpstreamError {
    let attempts = format!(
        "Streamable HTTP: {}; HTTP+SSE: {}",
        streamable.brief(),
        legacy.brief()
    );
    if streamable.is_web_page() && legacy.is_web_page() {
        return UpstreamError::WebPage {
            url: link.shown_url.clone(),
            found: attempts,
        };
    }
    UpstreamError::NoTransport {
        url: link.shown_url.clone(),
        tried: "Streamable HTTP or legacy HTTP+SSE",
        hint: format!("{attempts}. Check that the URL is the server's MCP endpoint"),
    }
}
