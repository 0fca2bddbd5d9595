//! convo-export: the global log (all of it, or a workspace, a position or time range, some
//! event types) to JSON Lines or Apache Parquet, streaming: pages are read from the store while
//! the previous ones are encoded, so memory stays flat whatever the size of the log. Every
//! event is exported at its type's current version (`LogEvent::upcast`): a log that older
//! builds wrote exports as if the current one had written all of it.
//! `convo export` is the command line; docs/EXPORT.md the user's guide and the Parquet layout.

mod table;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use convo_store::{Backend, EventLog, LogEvent, LogFilter, StoreError};

pub use table::{COLUMNS, Column, ROW_GROUP_ROWS, Read, schema};

/// Events per read from the store.
pub const PAGE_EVENTS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One `LogEvent` per line, as `GET /v1/events` serializes it.
    JsonLines,
    Parquet,
}

impl FromStr for Format {
    type Err = ExportError;
    fn from_str(s: &str) -> Result<Self, ExportError> {
        match s {
            "jsonl" => Ok(Self::JsonLines),
            "parquet" => Ok(Self::Parquet),
            other => Err(ExportError::UnknownFormat(other.to_owned())),
        }
    }
}

impl Format {
    /// The format a path's extension names (`.jsonl`/`.ndjson`, `.parquet`); `-` is JSON Lines.
    pub fn of_path(path: &Path) -> Result<Self, ExportError> {
        if path == Path::new("-") {
            return Ok(Self::JsonLines);
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl" | "ndjson") => Ok(Self::JsonLines),
            Some("parquet") => Ok(Self::Parquet),
            _ => Err(ExportError::FormatNotKnown(path.to_owned())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("unknown format {0:?}: use jsonl or parquet")]
    UnknownFormat(String),
    #[error("cannot tell the format of {0:?} from its extension (.jsonl, .ndjson, .parquet): pass --format")]
    FormatNotKnown(PathBuf),
    #[error("Parquet cannot be written to stdout: pass --out FILE.parquet")]
    ParquetToStdout,
    #[error("empty range: {0}")]
    InvertedRange(String),
    #[error("an empty event type in --types")]
    EmptyType,
    #[error("reading the log: {0}")]
    Store(#[from] StoreError),
    #[error("writing {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("encoding an event: {0}")]
    Json(#[from] serde_json::Error),
    #[error("reading an event: {0}")]
    Decode(#[from] convo_domain::DecodeError),
    #[error("writing Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("building a Parquet batch: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

/// What to export and where.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub format: Format,
    /// A file, or `-` for stdout (JSON Lines only).
    pub out: PathBuf,
    /// Only events after this position.
    pub after: i64,
    /// Workspace, last position, time range and event types.
    pub filter: LogFilter,
    /// Events per read from the store ([`PAGE_EVENTS`]).
    pub page_events: usize,
}

impl ExportOptions {
    /// Every event of the log to `out`, in the format its extension names.
    pub fn new(out: impl Into<PathBuf>) -> Result<Self, ExportError> {
        let out = out.into();
        Ok(Self {
            format: Format::of_path(&out)?,
            out,
            after: 0,
            filter: LogFilter::default(),
            page_events: PAGE_EVENTS,
        })
    }

    /// Bad input, found before anything is read or written.
    pub fn check(&self) -> Result<(), ExportError> {
        if self.format == Format::Parquet && self.to_stdout() {
            return Err(ExportError::ParquetToStdout);
        }
        if let Some(until) = self.filter.until_position.filter(|until| *until <= self.after) {
            return Err(ExportError::InvertedRange(format!(
                "--until-position {until} is not after --after {}",
                self.after
            )));
        }
        if let (Some(since), Some(until)) = (self.filter.since, self.filter.until)
            && until <= since
        {
            return Err(ExportError::InvertedRange(format!(
                "--until {} is not after --since {}",
                until.to_rfc3339(),
                since.to_rfc3339()
            )));
        }
        if self.filter.event_types.iter().any(|t| t.trim().is_empty()) {
            return Err(ExportError::EmptyType);
        }
        Ok(())
    }

    fn to_stdout(&self) -> bool {
        self.out == Path::new("-")
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    pub events: u64,
    /// The file's size (0 for stdout).
    pub bytes: u64,
}

/// Exports the events `options` selects that are in the log when the export starts, in log
/// order. `progress(done, total)` is called after each page. A file appears only when the
/// export succeeded: it is written to a temporary file beside it and renamed at the end.
pub async fn export<B: Backend>(
    log: &EventLog<B>,
    options: &ExportOptions,
    progress: impl Fn(u64, u64) + Send + 'static,
) -> Result<Exported, ExportError> {
    options.check()?;
    // The log as it is now: up to its head, once every transaction below the head has ended.
    let head = log.head().await?;
    let end = options.filter.until_position.map_or(head, |until| until.min(head));
    log.settle(end).await?;
    let filter = LogFilter { until_position: Some(end), ..options.filter.clone() };
    let total = log.count_filtered(options.after, &filter).await?;
    progress(0, total);

    // Pages are read here while the writer thread encodes the previous ones.
    let (pages, mut received) = tokio::sync::mpsc::channel::<Vec<LogEvent>>(2);
    let (format, out) = (options.format, options.out.clone());
    let writer = tokio::task::spawn_blocking(move || -> Result<_, ExportError> {
        let io = |source| ExportError::Io { path: out.display().to_string(), source };
        if out == Path::new("-") {
            let (_, events) = write(format, std::io::stdout(), &mut received, total, &progress)?;
            return Ok((None, events, 0));
        }
        let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let file = tempfile::Builder::new().prefix(".convo-export").tempfile_in(dir).map_err(io)?;
        let (file, events) = write(format, file, &mut received, total, &progress)?;
        file.as_file().sync_all().map_err(io)?;
        let bytes = file.as_file().metadata().map_err(io)?.len();
        Ok((Some(file), events, bytes))
    });
    let mut after = options.after;
    let read = async {
        loop {
            let page = log.read_filtered(after, options.page_events.max(1), &filter).await?;
            let Some(last) = page.last() else { return Ok::<_, ExportError>(()) };
            after = last.position;
            if pages.send(page).await.is_err() {
                return Ok(()); // The writer failed: its error is the answer.
            }
        }
    };
    let read = read.await;
    drop(pages);
    let (file, events, bytes) = writer.await.expect("the export writer does not panic")?;
    read?;
    if let Some(file) = file {
        file.persist(&options.out)
            .map_err(|e| ExportError::Io { path: options.out.display().to_string(), source: e.error })?;
    }
    Ok(Exported { events, bytes })
}

/// Writes every page received to `out`; gives it back with the number of events written.
fn write<W: Write + Send>(
    format: Format,
    out: W,
    pages: &mut tokio::sync::mpsc::Receiver<Vec<LogEvent>>,
    total: u64,
    progress: &impl Fn(u64, u64),
) -> Result<(W, u64), ExportError> {
    let io = |source| ExportError::Io { path: "the export".into(), source };
    let mut done = 0;
    match format {
        Format::JsonLines => {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
            while let Some(page) = pages.blocking_recv() {
                for event in &page {
                    serde_json::to_writer(&mut out, event.upcast()?.as_ref())?;
                    out.write_all(b"\n").map_err(io)?;
                }
                done += page.len() as u64;
                progress(done, total);
            }
            Ok((out.into_inner().map_err(|e| io(e.into_error()))?, done))
        }
        Format::Parquet => {
            let mut sink = table::ParquetSink::new(out)?;
            while let Some(page) = pages.blocking_recv() {
                sink.write(&page)?;
                done += page.len() as u64;
                progress(done, total);
            }
            Ok((sink.finish()?, done))
        }
    }
}

/// `convo export`'s flags.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The file to write (`-`: stdout, JSON Lines only). Written only if the export succeeds.
    #[arg(long)]
    pub out: PathBuf,
    /// jsonl or parquet (default: from the file's extension).
    #[arg(long)]
    pub format: Option<String>,
    /// Only this workspace's events.
    #[arg(long)]
    pub workspace: Option<uuid::Uuid>,
    /// Only events after this position.
    #[arg(long, default_value_t = 0)]
    pub after: i64,
    /// Only events at or before this position.
    #[arg(long)]
    pub until_position: Option<i64>,
    /// Only events recorded at or after this time (RFC 3339, e.g. 2026-01-05T00:00:00Z).
    #[arg(long)]
    pub since: Option<DateTime<Utc>>,
    /// Only events recorded before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<DateTime<Utc>>,
    /// Only these event types (comma-separated, e.g. MessageSent,InboundMessageReceived).
    #[arg(long, value_delimiter = ',')]
    pub types: Vec<String>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl ExportArgs {
    pub fn options(&self) -> Result<ExportOptions, ExportError> {
        let format = match &self.format {
            Some(f) => f.parse()?,
            None => Format::of_path(&self.out)?,
        };
        let options = ExportOptions {
            format,
            out: self.out.clone(),
            after: self.after,
            filter: LogFilter {
                workspace: self.workspace.map(|w| w.to_string()),
                until_position: self.until_position,
                since: self.since,
                until: self.until,
                event_types: self.types.clone(),
                positions: Vec::new(),
            },
            page_events: PAGE_EVENTS,
        };
        options.check()?;
        Ok(options)
    }
}

/// `convo export`: the export with a progress bar on stderr (hidden when stderr is not a
/// terminal, or with --quiet) and a summary line on stderr.
pub async fn run<B: Backend>(log: &EventLog<B>, args: &ExportArgs) -> Result<Exported, ExportError> {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let options = args.options()?;
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if args.quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {human_pos}/{human_len} events {per_sec} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let shown = bar.clone();
    let exported = export(log, &options, move |done, total| {
        shown.set_length(total);
        shown.set_position(done);
    })
    .await;
    bar.finish_and_clear();
    let exported = exported?;
    if !args.quiet {
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "exported {} events to {} in {seconds:.2} s ({:.0} events/s, {} bytes)",
            exported.events,
            options.out.display(),
            exported.events as f64 / seconds.max(1e-9),
            exported.bytes
        );
    }
    Ok(exported)
}
