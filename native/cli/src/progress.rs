//! Progress bars (indicatif) for long work. Drawn on stderr only when it is a terminal, so
//! scripts and tests see clean output; `--quiet` hides them always.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// What a bar counts.
#[derive(Debug, Clone, Copy)]
pub enum Unit {
    /// Bytes.
    Bytes,
    /// Items (entries, operations).
    Items,
}

/// A bar of `len` units labelled `msg`, or a hidden one when `quiet`.
pub fn bar(len: u64, msg: &str, unit: Unit, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let template = match unit {
        Unit::Bytes => {
            "{msg:>10} [{bar:32}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}"
        }
        Unit::Items => "{msg:>10} [{bar:32}] {human_pos}/{human_len} {per_sec} eta {eta}",
    };
    let style = ProgressStyle::with_template(template)
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    pb.set_style(style);
    pb.set_message(msg.to_string());
    pb
}

/// A spinner for work of unknown length.
pub fn spinner(msg: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{spinner} {msg} {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    pb.set_style(style);
    pb.set_message(msg.to_string());
    // A ticker thread keeps the spinner moving; WASI has no threads.
    #[cfg(not(target_os = "wasi"))]
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}
