//! A long-running command the xtask talks to over its stdin and stdout (pip's download
//! server), in its own process group that the group killer stops with the xtask.

use std::ffi::OsString;
use std::sync::atomic::Ordering;

use anyhow::{Context, Result};

use super::{install_interrupt_handlers, Cmd, GroupSlot};

/// A started command: write to `stdin`, read `stdout`; its stderr goes nowhere.
pub struct Piped {
    pub stdin: os_pipe::PipeWriter,
    pub stdout: os_pipe::PipeReader,
    pub process: Process,
}

/// The running process. Dropped after its stdin is closed, it waits for it to exit.
pub struct Process {
    handle: duct::Handle,
    _slot: Option<GroupSlot>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.handle.wait();
    }
}

impl Cmd {
    /// What sets up the process apart from its arguments (program, directory, environment):
    /// two commands equal here can share one server. Holds credentials: never printed.
    pub fn setup_key(&self) -> String {
        format!(
            "{:?}",
            (
                &self.program,
                &self.dir,
                &self.env,
                &self.env_remove,
                self.clear_env
            )
        )
    }

    /// The arguments, without the program.
    pub fn arguments(&self) -> &[OsString] {
        &self.args
    }

    /// The same program, directory and environment with `args` instead.
    pub fn with_args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(&self, args: I) -> Cmd {
        let mut c = self.clone();
        c.args.clear();
        c.args(args)
    }

    /// Starts the command with piped stdin and stdout, as the leader of a new process group
    /// that is registered for the group killer: on Ctrl-C it dies with whatever it forked.
    /// No parent-death signal (`own_group` sets one): that fires when the *thread* that started
    /// it ends, and a server started by one pool worker serves the others. When the xtask dies
    /// otherwise, the kernel closes the stdin pipe and the server exits on EOF.
    pub fn spawn_piped(&self) -> Result<Piped> {
        install_interrupt_handlers()?;
        let (in_r, in_w) = os_pipe::pipe().context("cannot create a pipe")?;
        let (out_r, out_w) = os_pipe::pipe().context("cannot create a pipe")?;
        let slot = GroupSlot::reserve();
        let handle = self
            .expression()
            .stdin_file(in_r)
            .stdout_file(out_w)
            .stderr_null()
            .unchecked()
            .before_spawn(|c| {
                std::os::unix::process::CommandExt::process_group(c, 0);
                Ok(())
            })
            .start()
            .with_context(|| format!("cannot run `{}`", self.program.display()))?;
        if let (Some(slot), Some(pid)) = (&slot, handle.pids().first()) {
            slot.0
                .store(i32::try_from(*pid).unwrap_or(0), Ordering::SeqCst);
        }
        Ok(Piped {
            stdin: in_w,
            stdout: out_r,
            process: Process {
                handle,
                _slot: slot,
            },
        })
    }
}
