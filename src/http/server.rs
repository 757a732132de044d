//! Runs the server: opens the cache, starts the background workers (flusher,
//! sweeper, L3 index saver), serves HTTP until SIGINT/SIGTERM, then shuts down in order:
//! stop accepting, finish in-flight requests, persist, flush.

use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::{web, App, HttpServer};

use super::{routes, ServerSettings};
use crate::cache::{CacheManager, CacheSettings};
use crate::error::StartError;

/// A background thread that runs `tick` every `period` until stopped.
struct Ticker {
    stop: Sender<()>,
    handle: JoinHandle<()>,
}

impl Ticker {
    fn start(name: &str, period: Duration, tick: impl Fn() + Send + 'static) -> Ticker {
        let (stop, rx) = channel::<()>();
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || loop {
                match rx.recv_timeout(period) {
                    Err(RecvTimeoutError::Timeout) => tick(),
                    _ => return,
                }
            })
            .expect("spawning a background thread");
        Ticker { stop, handle }
    }

    fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.handle.join();
    }
}

/// Serves until a shutdown signal.
pub fn run(server: ServerSettings, cache: CacheSettings) -> Result<(), StartError> {
    let sweep_ms = cache.sweep_interval_ms;
    let mgr = Arc::new(CacheManager::open(cache)?);
    let flusher = {
        let m = mgr.clone();
        Ticker::start(
            "helios-flush",
            Duration::from_millis(server.flush_interval_ms),
            move || m.persist(),
        )
    };
    let sweeper = {
        let m = mgr.clone();
        Ticker::start("helios-sweep", Duration::from_millis(sweep_ms), move || {
            m.sweep()
        })
    };
    let saver = {
        let m = mgr.clone();
        let period = Duration::from_secs(m.settings().index_save_interval_seconds);
        Ticker::start("helios-index-save", period, move || m.save_index())
    };
    let served = serve(mgr.clone(), &server).map_err(StartError::Serve);
    flusher.stop();
    sweeper.stop();
    saver.stop();
    let flushed = mgr.shutdown().map_err(|e| StartError::Serve(e.to_string()));
    tracing::info!("shut down cleanly");
    served.and(flushed)
}

fn serve(mgr: Arc<CacheManager>, settings: &ServerSettings) -> Result<(), String> {
    let announce = mgr.clone();
    let data = web::Data::from(mgr);
    let server_data = web::Data::new(settings.clone());
    let gateway = web::Data::new(super::gateway::Gateway::new(settings.gateway.clone()));
    let sys = actix_web::rt::System::new();
    sys.block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(super::auth::require_api_key))
                .wrap(actix_web::middleware::from_fn(
                    super::access_log::access_log,
                ))
                .app_data(data.clone())
                .app_data(server_data.clone())
                .app_data(gateway.clone())
                .configure(routes::configure)
        })
        .workers(settings.workers)
        // Streamed answers (the gateway) go out as they come, not after the
        // client's delayed ACK.
        .tcp_nodelay(true)
        .shutdown_timeout(30)
        .client_request_timeout(std::time::Duration::from_millis(
            settings.request_timeout_ms,
        ))
        .bind(&settings.bind)
        .map_err(|e| format!("cannot bind {}: {e}", settings.bind))?;
        for addr in server.addrs() {
            if !addr.ip().is_loopback() && settings.api_key.is_none() {
                tracing::warn!(
                    "!!! listening on non-loopback address {addr} WITHOUT an API key: anyone who \
                     can reach it can read and write the cache; set HELIOS_API_KEY !!!"
                );
            }
            tracing::info!("listening on http://{addr}");
            announce.announce(&addr.to_string());
        }
        server.run().await.map_err(|e| e.to_string())
    })
}
