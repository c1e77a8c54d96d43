//! Waiting for a `confab` process the tests started, with a deadline: a
//! process that does not stop fails its test instead of hanging the suite.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// How `child` exited, waiting at most `within`; past that it is killed and
/// the test fails.
pub fn exit_within(child: &mut Child, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            return exit;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the process was still running after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
