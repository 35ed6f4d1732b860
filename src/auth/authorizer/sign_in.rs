//! The ways of signing in (issue 25): federation, client credentials, the
//! device grant and the browser with its loopback callback, and handing a
//! browser sign-in over to a process of its own. `Authorizer`'s other half
//! (`authorizer.rs`) is the single flight around them: the lock, the
//! stored tokens, refresh, and what a rejection means.

use super::*;

impl Authorizer {
    /// A new login: client credentials, or the browser (G20).
    pub(super) async fn login(
        &self,
        found: &Discovered,
        challenge: Option<&BearerChallenge>,
        lock: &Lock,
    ) -> Result<(), AuthError> {
        let issuer = found.server.issuer.clone();
        let scope = self.scope(found, challenge);
        let federation =
            match &self.options.sign_in {
                SignInMode::Federation(federation) => Some(federation),
                SignInMode::ClientCredentials => {
                    let client = self.options.static_client.clone().ok_or(
                        GrantError::NoEndpoint {
                            what: "client (--client-credentials needs --static-oauth-client-info)",
                        },
                    )?;
                    let target = self.target(found, &client, scope.as_deref());
                    let tokens = grant::client_credentials(&self.http, &target).await?;
                    return self.adopt(&issuer, tokens);
                }
                SignInMode::DeviceCode => return self.device_login(found, scope.as_deref()).await,
                SignInMode::Browser => None,
            };
        if let Some(federation) = federation {
            let client = self
                .options
                .static_client
                .clone()
                .ok_or(GrantError::NoEndpoint {
                    what: "client (a federated sign-in needs --static-oauth-client-info)",
                })?;
            let target = self.target(found, &client, scope.as_deref());
            let tokens = federation::sign_in(&self.http, federation, &target).await?;
            crate::telemetry::lifecycle::signed_in(&redact_url(&self.server_url));
            return self.adopt(&issuer, tokens);
        }
        let callback = self.bind_callback().await?;
        let redirect = callback.redirect_uri().clone();
        lock.note(&format!(
            "pid {}, callback on port {}",
            std::process::id(),
            redirect.port_or_known_default().unwrap_or_default()
        ));
        let mut registered_again = false;
        loop {
            let (client, source) = self
                .client_for(found, Some(&redirect), scope.as_deref())
                .await?;
            let target = self.target(found, &client, scope.as_deref());
            let authorization =
                grant::authorization(&target, &redirect, &self.options.authorize_params)?;
            let url = browser::validate(authorization.url.as_str())?;
            tracing::warn!(
                signin = "prompt",
                "sign in to {} in your browser; if it does not open, visit: {url}",
                redact_url(&self.server_url)
            );
            let expect = Expect {
                state: authorization.state,
                issuer: Some(issuer.clone()),
                require_iss: found.server.authorization_response_iss_parameter_supported,
                success_url: self.options.success_url.clone(),
                start: Some(url.clone()),
            };
            // A long login page is opened through the callback's short
            // local link, which redirects to it (browser::LONGEST_OPENED).
            let opened = match url.as_str().len() > browser::LONGEST_OPENED {
                true => callback.start_url(),
                false => url.clone(),
            };
            // The redirect is awaited while the opener is watched: a browser
            // that signs in at once is served at once, and an opener that
            // fails is known within its grace.
            let handoff_at = match target.dpop {
                // A DPoP key is not handed over: such a sign-in waits here.
                Some(_) => None,
                None => self.handoff_at(),
            };
            let hand_off = async {
                match handoff_at {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            /// How the wait for the redirect ended.
            enum Waited {
                Code(Result<Secret<String>, AuthError>),
                HandOff,
            }
            let waited = {
                let waited = callback.wait(&expect, self.options.auth_timeout);
                tokio::pin!(waited);
                let opened = browser::open(self.options.browser.as_deref(), &opened);
                tokio::select! {
                    code = &mut waited => Waited::Code(code.map_err(AuthError::from)),
                    () = hand_off => Waited::HandOff,
                    Err(e) = opened => match self.options.without_browser {
                        // A person at a terminal (`login`) reads the URL above.
                        WithoutBrowser::Wait => {
                            tracing::warn!("{e}; open the URL above yourself");
                            Waited::Code(waited.await.map_err(AuthError::from))
                        }
                        // A host would only see a timeout: say it now.
                        WithoutBrowser::FailAtOnce => Waited::Code(Err(AuthError::NoBrowser {
                            reason: e.to_string(),
                            server: redact_url(&self.server_url),
                            url: url.to_string(),
                            device: found.server.device_authorization_endpoint.is_some(),
                        })),
                    },
                }
            };
            let code = match waited {
                Waited::Code(code) => code?,
                Waited::HandOff => {
                    return self.hand_off(
                        callback,
                        lock,
                        &target,
                        authorization.verifier,
                        &expect,
                        &url,
                    );
                }
            };
            let result = grant::exchange_code(
                &self.http,
                &target,
                &redirect,
                &code,
                authorization.verifier,
            )
            .await;
            if self.settle(&issuer, result, source, &mut registered_again)? {
                return Ok(());
            }
        }
    }

    /// Hands the open browser sign-in over to a process of its own, which
    /// inherits the callback listener and finishes it (`handoff`); the host
    /// is told to finish in the browser and reconnect.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn hand_off(
        &self,
        callback: Callback,
        lock: &Lock,
        target: &Target<'_>,
        verifier: oauth2::PkceCodeVerifier,
        expect: &Expect,
        url: &Url,
    ) -> Result<(), AuthError> {
        let server = redact_url(&self.server_url);
        let continues = AuthError::SignInContinues {
            server: server.clone(),
            url: url.to_string(),
            within: crate::auth::handoff::FINISH_WITHIN,
        };
        #[cfg(unix)]
        {
            use std::os::fd::{AsRawFd as _, OwnedFd};
            let handoff = self.options.handoff.as_ref().expect("handoff_at saw one");
            let redirect_uri = callback.redirect_uri().clone();
            let callback_path = callback.path().to_owned();
            let fds: Vec<OwnedFd> = callback.into_fds()?;
            let handover = crate::auth::handoff::Handover {
                server: target.server.clone(),
                client: target.client.clone(),
                resource: target.resource.map(str::to_owned),
                scope: target.scope.map(str::to_owned),
                state: expect.state.expose().clone(),
                verifier: verifier.secret().clone(),
                redirect_uri,
                callback_path,
                require_iss: expect.require_iss,
                success_url: expect.success_url.clone(),
                wait_secs: crate::auth::handoff::FINISH_WITHIN.as_secs(),
                listeners: fds.iter().map(|fd| fd.as_raw_fd()).collect(),
                lock: lock.hand_over(),
            };
            let finisher = crate::auth::handoff::spawn(handoff, &handover)?;
            // Noted before this bridge lets go, not by the finisher once it
            // has started: a reconnect in between must already read that
            // the sign-in was handed over, and be told at once.
            lock.note(&format!("pid {finisher}, {}", crate::auth::handoff::NOTE));
            self.handed_off
                .store(true, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(
                "the sign-in to {server} goes on in the background for up to {} min",
                crate::auth::handoff::FINISH_WITHIN.as_secs() / 60
            );
            // This bridge's copies close here; the finisher has its own.
            drop(fds);
        }
        #[cfg(not(unix))]
        let _ = (callback, lock, target, verifier, expect);
        Err(continues)
    }

    /// Finishes a browser sign-in that a bridge handed over (`handoff`):
    /// waits for the redirect on the inherited listeners, exchanges the
    /// code and stores the tokens, holding this server's lock meanwhile so
    /// that no other bridge opens a second tab.
    ///
    /// # Safety
    /// `handover.listeners` must be listening sockets this process
    /// inherited and owns.
    #[cfg(unix)]
    pub async unsafe fn finish_handed_over(
        &self,
        handover: crate::auth::handoff::Handover,
    ) -> Result<(), AuthError> {
        // SAFETY: the caller's promise covers the lock's descriptor too.
        let lock = unsafe { Lock::inherited(handover.lock, &self.credentials.lock_path()) };
        lock.note(&format!(
            "pid {}, {}",
            std::process::id(),
            crate::auth::handoff::NOTE
        ));
        // SAFETY: the caller's promise.
        let callback = unsafe {
            Callback::from_fds(
                &handover.listeners,
                handover.redirect_uri.clone(),
                &handover.callback_path,
            )?
        };
        let expect = Expect {
            state: Secret::new(handover.state),
            issuer: Some(handover.server.issuer.clone()),
            require_iss: handover.require_iss,
            success_url: handover.success_url,
            // The browser was sent on before the hand-over.
            start: None,
        };
        let code = callback
            .wait(&expect, Duration::from_secs(handover.wait_secs))
            .await?;
        let target = Target {
            server: &handover.server,
            client: &handover.client,
            resource: handover.resource.as_deref(),
            scope: handover.scope.as_deref(),
            dpop: None,
        };
        let tokens = grant::exchange_code(
            &self.http,
            &target,
            &handover.redirect_uri,
            &code,
            oauth2::PkceCodeVerifier::new(handover.verifier),
        )
        .await?;
        crate::telemetry::lifecycle::signed_in(&redact_url(&self.server_url));
        self.adopt(&handover.server.issuer, tokens)
    }

    /// What a login attempt's outcome means: signed in (`true`); a stored
    /// registration the server forgot, dropped to register again, once
    /// (`false`, G9); or the error.
    pub(super) fn settle(
        &self,
        issuer: &str,
        result: Result<Tokens, GrantError>,
        source: ClientSource,
        registered_again: &mut bool,
    ) -> Result<bool, AuthError> {
        match result {
            Ok(tokens) => {
                crate::telemetry::lifecycle::signed_in(&redact_url(&self.server_url));
                self.adopt(issuer, tokens)?;
                Ok(true)
            }
            Err(GrantError::InvalidClient(_))
                if source == ClientSource::Registered && !*registered_again =>
            {
                tracing::warn!(
                    "the authorization server no longer knows this client; registering again"
                );
                self.credentials.forget_client()?;
                *registered_again = true;
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A login with the device authorization grant (G22): the user enters a
    /// code on any device while the bridge polls. Holds the server's lock
    /// like a browser login, so several processes show one code (G21).
    pub(super) async fn device_login(
        &self,
        found: &Discovered,
        scope: Option<&str>,
    ) -> Result<(), AuthError> {
        let issuer = found.server.issuer.clone();
        let mut registered_again = false;
        loop {
            let (client, source) = self.client_for(found, None, scope).await?;
            let target = self.target(found, &client, scope);
            let result = match device::start(&self.http, &target).await {
                Ok(authorization) => {
                    let server = redact_url(&self.server_url);
                    tracing::warn!(signin = "prompt", "{}", authorization.instructions(&server));
                    device::finish(
                        &self.http,
                        &target,
                        &authorization,
                        self.options.auth_timeout,
                    )
                    .await
                }
                Err(e) => Err(e),
            };
            if self.settle(&issuer, result, source, &mut registered_again)? {
                return Ok(());
            }
        }
    }

    /// The client identity for a login: the user's, the stored one, or a new
    /// registration (stored). `redirect` is the browser login's callback;
    /// `None` for the device grant.
    pub(super) async fn client_for(
        &self,
        found: &Discovered,
        redirect: Option<&Url>,
        scope: Option<&str>,
    ) -> Result<(ClientIdentity, ClientSource), AuthError> {
        let issuer = &found.server.issuer;
        let key = registration_key(redirect);
        if self.options.static_client.is_none()
            && let Some(client) = self.credentials.client(issuer, &key)
        {
            return Ok((client, ClientSource::Registered));
        }
        let registration = Registration {
            server: &found.server,
            redirect_uri: redirect,
            scope,
            extra_metadata: self.options.static_metadata.as_ref(),
        };
        let (client, source) = client::identify(
            &self.http,
            &registration,
            self.options.static_client.as_ref(),
            self.options.client_metadata_url.as_ref(),
        )
        .await?;
        if source == ClientSource::Registered {
            self.credentials.save_client(issuer, &key, &client)?;
            // Which server the files are for, so that `logout --all` and
            // `status` can name it even before a sign-in completes.
            self.credentials.save_info(&ServerInfo {
                url: redact_url(&self.server_url),
                resource: self.options.explicit_resource().map(str::to_owned),
            })?;
        }
        Ok((client, source))
    }

    /// Binds the callback listener: the user's port, else one derived from
    /// the URL (stable, so a registration's redirect URI stays valid), else
    /// any free port.
    pub(super) async fn bind_callback(&self) -> Result<Callback, AuthError> {
        let options = &self.options;
        if let Some(port) = options.callback_port {
            return Ok(Callback::bind(&options.host, port, &options.callback_path).await?);
        }
        let derived = options.mcp_remote.callback_port();
        match Callback::bind(&options.host, derived, &options.callback_path).await {
            Ok(callback) => Ok(callback),
            Err(_) => Ok(Callback::bind(&options.host, 0, &options.callback_path).await?),
        }
    }
}
