//! Interrupt safety for real submissions (`docs/launch.md`).
//!
//! The first SIGINT, SIGTERM, SIGQUIT or SIGHUP (an ssh session that drops) only raises a
//! flag: the sbatch call under way finishes (sbatch runs in its own process group, so a
//! Ctrl-C does not reach it), its job id is recorded, and `launch` then stops submitting
//! and reports the rest. A second signal ends `launch` at once (exit 130), as does SIGKILL;
//! the sbatch child then lives on holding the run's lock, so the next launch waits for it
//! (`skipped_in_flight`) and finds its job in the queue by its token.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGHUP, TERM_SIGNALS};

/// The raised-on-signal flag.
#[derive(Debug, Clone)]
pub struct Interrupt {
    flag: Arc<AtomicBool>,
}

impl Interrupt {
    /// Install the handlers for every termination signal.
    pub fn install() -> std::io::Result<Self> {
        let flag = Arc::new(AtomicBool::new(false));
        for &signal in TERM_SIGNALS.iter().chain(&[SIGHUP]) {
            // Order matters: the shutdown check runs before the flag is raised, so only a
            // second signal exits.
            signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&flag))?;
            signal_hook::flag::register(signal, Arc::clone(&flag))?;
        }
        Ok(Interrupt { flag })
    }

    /// The flag itself, for waits that must end early on a signal.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.flag)
    }

    /// Whether a signal arrived.
    pub fn is_raised(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}
