//! The `facegate` command line.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use cli::gallery::{self as g, opt};
use facegate::gallery::Gallery;
use facegate::vision::{
    Backend, DetectorConfig, DetectorKind, EmbedderKind, LoadOptions, ModelPaths, Precision,
    Vision, VisionConfig,
};

#[derive(Parser)]
#[command(version, about = "Face-recognition door terminal firmware")]
struct Cli {
    /// Models directory (default: $FACEGATE_MODELS, ./models, /usr/share/facegate/models).
    #[arg(long, global = true)]
    models: Option<PathBuf>,
    /// Compute backend.
    #[arg(long, global = true, default_value_t = Backend::default())]
    backend: Backend,
    /// Model weights: int8 (default) or fp32.
    #[arg(long, global = true, default_value_t = Precision::default())]
    precision: Precision,
    /// Worker threads for the models (default: all cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Face detector (default: the board config's `[vision]`, else retinaface).
    #[arg(long, global = true)]
    detector: Option<DetectorKind>,
    /// Face embedder (default: the board config's `[vision]`, else sface).
    #[arg(long, global = true)]
    embedder: Option<EmbedderKind>,
    /// Largest detector input, WIDTHxHEIGHT; larger images are scaled down.
    #[arg(long, global = true, default_value = "640x480", value_parser = parse_size)]
    input_size: (u32, u32),
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Device secret key that decrypts encrypted galleries (default:
    /// $FACEGATE_DEVICE_KEY).
    #[arg(long, global = true)]
    device_key: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Detect faces: boxes, 5 landmarks and scores.
    Detect {
        /// Image file (JPEG or PNG).
        image: PathBuf,
    },
    /// Embed the largest face: a unit-length 128-D vector.
    Embed {
        /// Image file (JPEG or PNG).
        image: PathBuf,
    },
    /// Compare the largest faces of two images (exit 0 same, 1 different).
    Compare {
        /// First image.
        a: PathBuf,
        /// Second image.
        b: PathBuf,
        /// Cosine score at or above which the faces are the same person
        /// (default: the embedder's).
        #[arg(long)]
        threshold: Option<f32>,
    },
    /// Enrol a folder of ID photos (one sub-folder per person) into a gallery.
    Enroll {
        /// Folder with one sub-folder per person (folder name = display name).
        photos: PathBuf,
        /// Gallery file to write.
        #[arg(long)]
        out: PathBuf,
        /// Sign with this secret key (from `facegate keygen`).
        #[arg(long)]
        sign: Option<PathBuf>,
        /// Previous gallery: keep ids and unchanged photos' templates, bump the version.
        #[arg(long)]
        update: Option<PathBuf>,
        /// Write each file's outcome as JSON here.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Match threshold to store (default: the previous gallery's, else the one
        /// calibrated for the detector and embedder).
        #[arg(long)]
        threshold: Option<f32>,
        /// Raise the threshold to the one measured on LFW for this chance of
        /// a stranger being let in (FPIR: 1e-2 or 1e-3) at the gallery's size.
        #[arg(long)]
        fpir: Option<f64>,
        /// --keys and --allow-unverified for the --update gallery.
        #[command(flatten)]
        trust: EditTrust,
        /// Encrypt the people to the device public keys (*.x25519) in DIR.
        #[arg(long, value_name = "DIR")]
        encrypt_to: Option<PathBuf>,
    },
    /// Identify every face in an image against a gallery.
    Identify {
        /// Image file.
        image: PathBuf,
        /// Gallery file.
        #[arg(long)]
        gallery: PathBuf,
        /// Ranked candidates per face.
        #[arg(long, default_value_t = 5)]
        top: usize,
        /// Trusted public keys (a signed gallery is verified against them).
        #[arg(long)]
        keys: Option<PathBuf>,
    },
    /// Run the door terminal: camera, recognition, door, display, event log.
    Run {
        /// Board config (see board/*.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// List or export the event log.
    Events {
        #[command(subcommand)]
        action: EventsAction,
    },
    /// Inspect and edit a gallery.
    Gallery {
        #[command(subcommand)]
        action: GalleryAction,
    },
    /// Make an ed25519 key pair for signing galleries: STEM.key and STEM.pub.
    Keygen {
        /// Path without extension.
        #[arg(long)]
        out: PathBuf,
    },
    /// Score distributions, TAR at FAR, EER and the threshold for a target FAR.
    Calibrate {
        /// Folder with one sub-folder per person (not needed with --scores).
        dir: Option<PathBuf>,
        /// Target false-accept rate.
        #[arg(long, default_value_t = 1e-4)]
        far: f64,
        /// Draw histograms and the ROC curve to this PNG.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Store the threshold in this gallery.
        #[arg(long)]
        gallery: Option<PathBuf>,
        /// Sign the updated gallery with this key.
        #[arg(long)]
        sign: Option<PathBuf>,
        /// --keys and --allow-unverified for the --gallery to edit.
        #[command(flatten)]
        trust: EditTrust,
        /// Cap on impostor pairs (evenly subsampled beyond it).
        #[arg(long, default_value_t = 2_000_000)]
        max_impostors: usize,
        /// Score only the pairs of this LFW-style pairs.txt (else all pairs).
        #[arg(long)]
        pairs: Option<PathBuf>,
        /// At most this many photos per person (first in name order).
        #[arg(long, default_value_t = usize::MAX)]
        per_person: usize,
        /// Skip people with fewer photos than this.
        #[arg(long, default_value_t = 1)]
        min_photos: usize,
        /// Compute from a scores file (a, b, same, score; tab-separated)
        /// instead of running the models: a reference system's scores.
        #[arg(long)]
        scores: Option<PathBuf>,
        /// Write every scored pair here (the same format).
        #[arg(long)]
        scores_out: Option<PathBuf>,
        /// Each photo's embedding: read from this file where it has the
        /// photo, else computed and added to it (a rerun on the same set,
        /// or another mode, embeds nothing twice); a reference system's
        /// file (scripts/accuracy_dlib.py) is scored as it is.
        #[arg(long)]
        embeddings: Option<PathBuf>,
        /// 1:N instead of pairs: galleries of --gallery-size people (one
        /// photo each) searched by every other photo; --far is then the
        /// target FPIR and --gallery takes its threshold.
        #[arg(long)]
        identification: bool,
        /// 1:N: the gallery sizes (the site's number of people).
        #[arg(
            long,
            value_name = "N[,N...]",
            value_delimiter = ',',
            default_value = "100,1000"
        )]
        gallery_size: Vec<usize>,
        /// 1:N: galleries drawn per size (seeded; searches pooled).
        #[arg(long, default_value_t = 5)]
        trials: usize,
        /// 1:N: photos enrolled per person (the first with a face; a person
        /// scores the best of them).
        #[arg(long, default_value_t = 1)]
        templates: usize,
        /// Errata of the set: a file of `FOLDER_A FOLDER_B` lines, folders
        /// holding one person (e.g. scripts/lfw-errata.txt).
        #[arg(long)]
        same_person: Option<PathBuf>,
        /// Which face is a photo's subject: largest, or central (LFW's
        /// convention: its photos are centred on their subject).
        #[arg(long, default_value = "largest")]
        subject: facegate::vision::Subject,
    },
    /// Is each face live? MiniFASNet's score per face (exit 0: a face, all live).
    Liveness {
        /// Image file.
        image: PathBuf,
        /// Score at or above which a face is live.
        #[arg(long, default_value_t = facegate::liveness::DEFAULT_THRESHOLD)]
        threshold: f32,
    },
    /// Liveness error rates on a labelled set (ISO/IEC 30107-3 APCER and
    /// BPCER), the threshold for a target APCER, a DET plot.
    CalibrateLiveness {
        /// Set with labels.csv (file, label = live|spoof, attack, tag) or
        /// live/ and spoof/ sub-folders.
        dir: Option<PathBuf>,
        /// A folder of live faces only (repeatable): every image below it.
        #[arg(long)]
        bona_fide: Vec<PathBuf>,
        /// Threshold to report at.
        #[arg(long, default_value_t = facegate::liveness::DEFAULT_THRESHOLD)]
        threshold: f32,
        /// Target APCER for the suggested threshold.
        #[arg(long, default_value_t = 0.01)]
        target_apcer: f64,
        /// Draw the DET curve to this PNG.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Write every presentation's score here (tab-separated).
        #[arg(long)]
        scores_out: Option<PathBuf>,
    },
    /// Copy a mounted USB stick's facegate/gallery.fgal into the inbox
    /// (run by board/usb-import.sh as the facegate user; no symlinks followed).
    UsbImport {
        /// The stick's mount point.
        #[arg(long)]
        from: PathBuf,
        /// The terminal's board config (inbox, max_bytes).
        #[arg(long, default_value = "/etc/facegate/facegate.toml")]
        config: PathBuf,
        /// Partition name, for logs and the inbox file name.
        #[arg(long, default_value = "usb")]
        partition: std::ffi::OsString,
    },
    /// Write the event log to a mounted USB stick that carries a valid
    /// signed facegate/export-request (exit 1 if it does not).
    UsbExport {
        /// The stick's mount point.
        #[arg(long)]
        from: PathBuf,
        /// The terminal's board config (site, keys, event log).
        #[arg(long, default_value = "/etc/facegate/facegate.toml")]
        config: PathBuf,
        /// Partition name, for logs.
        #[arg(long, default_value = "usb")]
        partition: std::ffi::OsString,
        /// Only check the request; write nothing.
        #[arg(long)]
        check: bool,
    },
    /// Make a signed request for a terminal's event log, to put on a USB stick.
    ExportRequest {
        /// Admin secret key (from `facegate keygen`; its .pub on the terminal).
        #[arg(long)]
        sign: PathBuf,
        /// The terminal's site name ([terminal] site).
        #[arg(long)]
        site: String,
        /// How long the request is valid (at most 31d).
        #[arg(long, default_value = "24h")]
        valid: String,
        /// Where to write it, e.g. /media/usb/facegate/export-request.
        #[arg(long)]
        out: PathBuf,
    },
    /// Manage models.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
    /// Make this device's X25519 key pair (galleries can be encrypted to its
    /// public key): FILE (secret, 0600) and FILE.x25519 (public).
    DeviceKey {
        /// Secret key file.
        #[arg(long, default_value = "/var/lib/facegate/device-key")]
        out: PathBuf,
        /// Do nothing when FILE exists (for a first-boot step).
        #[arg(long)]
        if_missing: bool,
    },
}

/// `--keys DIR --allow-unverified` of the commands that edit a gallery.
#[derive(clap::Args, Debug)]
struct EditTrust {
    /// Trusted public keys: a signed input must verify against them (or
    /// against the --sign key itself).
    #[arg(long)]
    keys: Option<PathBuf>,
    /// Edit an input whose signature cannot be verified (the output is
    /// marked as made from an unverified input).
    #[arg(long)]
    allow_unverified: bool,
}

impl EditTrust {
    /// What the command line trusts for an edit signed with `sign`.
    fn with<'a>(
        &'a self,
        sign: &'a Option<PathBuf>,
        device_key: Option<&'a std::path::Path>,
    ) -> g::Trust<'a> {
        g::Trust {
            keys: opt(&self.keys),
            sign: opt(sign),
            allow_unverified: self.allow_unverified,
            device_key,
        }
    }
}

#[derive(Subcommand)]
enum GalleryAction {
    /// Verify a gallery file and install it on this device (what a USB stick
    /// update does): signature, trusted key, model, size, and a version
    /// above the installed one. The previous gallery is kept for rollback.
    Install {
        /// The offered gallery file.
        file: PathBuf,
        /// The terminal's board config (gallery path, keys, limits).
        #[arg(long, default_value = "/etc/facegate/facegate.toml")]
        config: PathBuf,
    },
    /// Make the previous gallery current again.
    Rollback {
        /// The terminal's board config.
        #[arg(long, default_value = "/etc/facegate/facegate.toml")]
        config: PathBuf,
    },
    /// People and template counts.
    List { gallery: PathBuf },
    /// One person's record.
    Show { gallery: PathBuf, name: String },
    /// Remove a person.
    Remove {
        gallery: PathBuf,
        name: String,
        #[arg(long)]
        sign: Option<PathBuf>,
        #[command(flatten)]
        trust: EditTrust,
    },
    /// Rename a person.
    Rename {
        gallery: PathBuf,
        old: String,
        new: String,
        #[arg(long)]
        sign: Option<PathBuf>,
        #[command(flatten)]
        trust: EditTrust,
    },
    /// Merge B into A (same names: templates pooled) and write OUT.
    Merge {
        a: PathBuf,
        b: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        sign: Option<PathBuf>,
        #[command(flatten)]
        trust: EditTrust,
    },
    /// Pad GALLERY with random people up to PEOPLE in total and write OUT:
    /// memory and speed tests at a site's scale (the real people still match).
    Synthetic {
        gallery: PathBuf,
        #[arg(long)]
        people: usize,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        sign: Option<PathBuf>,
        #[command(flatten)]
        trust: EditTrust,
    },
    /// Check integrity, model and (with --keys) signature.
    Verify {
        gallery: PathBuf,
        /// Directory of trusted *.pub keys.
        #[arg(long)]
        keys: Option<PathBuf>,
        /// Refuse an unsigned gallery.
        #[arg(long)]
        require_signature: bool,
    },
    /// Sizes: bytes per person and per template.
    Stats { gallery: PathBuf },
}

#[derive(Subcommand)]
enum ModelsAction {
    /// Convert the exported weights (*.safetensors) into burn records (*.bpk).
    Import,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{s:?} is not WIDTHxHEIGHT"))?;
    let parse = |v: &str| {
        v.parse::<u32>()
            .ok()
            .filter(|n| (32..=4096).contains(n))
            .ok_or_else(|| format!("{v:?} is not a size in 32..=4096"))
    };
    Ok((parse(w)?, parse(h)?))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    if let Some(n) = cli.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("setting the thread count")?;
    }
    let paths = ModelPaths::new(cli.models.clone().unwrap_or_else(ModelPaths::default_dir));
    let config = DetectorConfig {
        input_width: cli.input_size.0,
        input_height: cli.input_size.1,
        ..DetectorConfig::default()
    };
    let kinds = VisionConfig {
        detector: cli.detector.unwrap_or_default(),
        embedder: cli.embedder.unwrap_or_default(),
    };
    let options = LoadOptions::new(cli.backend, cli.precision, config);
    let vision = || Vision::load(&paths, kinds, &options);
    let liveness = || -> Result<cli::liveness::Models> {
        Ok(cli::liveness::Models {
            detector: facegate::vision::pipeline::load_detector(kinds.detector, &paths, &options)?,
            passive: facegate::vision::minifasnet::Passive::load(&paths, &options)?,
        })
    };
    let json = cli.json;
    match &cli.command {
        Command::Models {
            action: ModelsAction::Import,
        } => {
            for path in facegate::vision::import_models(&paths, &cli.backend.device()?)? {
                println!("wrote {}", path.display());
            }
        }
        Command::Detect { image } => cli::vision::detect(&vision()?, image, json)?,
        Command::Embed { image } => cli::vision::embed(&vision()?, image, json)?,
        Command::Compare { a, b, threshold } => {
            return cli::vision::compare(&vision()?, a, b, *threshold, json);
        }
        Command::Enroll {
            photos,
            out,
            sign,
            update,
            report,
            threshold,
            fpir,
            trust,
            encrypt_to,
        } => {
            let args = g::EnrollArgs {
                photos,
                out,
                update: opt(update),
                report: opt(report),
                threshold: *threshold,
                fpir: *fpir,
                encrypt_to: opt(encrypt_to),
                trust: trust.with(sign, opt(&cli.device_key)),
            };
            g::enroll(&vision()?, args, json)?;
        }
        Command::Identify {
            image,
            gallery,
            top,
            keys,
        } => {
            let trust = g::Trust {
                keys: opt(keys),
                device_key: opt(&cli.device_key),
                ..g::Trust::default()
            };
            g::identify(&vision()?, image, gallery, *top, trust, json)?
        }
        Command::DeviceKey { out, if_missing } => g::device_key(out, *if_missing)?,
        Command::Keygen { out } => g::keygen(out)?,
        Command::Calibrate {
            dir,
            far,
            plot,
            gallery,
            sign,
            trust,
            max_impostors,
            pairs,
            per_person,
            min_photos,
            scores,
            scores_out,
            embeddings,
            identification,
            gallery_size,
            trials,
            templates,
            same_person,
            subject,
        } => {
            let args = cli::calibrate::CalibrateArgs {
                dir: opt(dir),
                far: *far,
                plot: opt(plot),
                gallery: opt(gallery),
                trust: trust.with(sign, opt(&cli.device_key)),
                max_impostors: *max_impostors,
                pairs: opt(pairs),
                same_person: opt(same_person),
                per_person: *per_person,
                min_photos: *min_photos,
                scores: opt(scores),
                scores_out: opt(scores_out),
                embeddings: opt(embeddings),
                source: format!(
                    "facegate {} {} {} {subject} {}",
                    kinds.detector,
                    kinds.embedder,
                    cli.precision,
                    facegate::gallery::keys::hex(&kinds.embedder.info().weights_sha256[..8])
                ),
                gallery_sizes: if *identification { gallery_size } else { &[] },
                trials: *trials,
                templates: *templates,
                subject: *subject,
            };
            cli::calibrate::calibrate(|| Ok(vision()?), args, json)?;
        }
        Command::Liveness { image, threshold } => {
            return cli::liveness::liveness(&liveness()?, image, *threshold, json);
        }
        Command::CalibrateLiveness {
            dir,
            bona_fide,
            threshold,
            target_apcer,
            plot,
            scores_out,
        } => {
            let args = cli::liveness::CalibrateArgs {
                dir: opt(dir),
                bona_fide,
                threshold: *threshold,
                target_apcer: *target_apcer,
                plot: opt(plot),
                scores_out: opt(scores_out),
            };
            cli::liveness::calibrate(&liveness()?, args, json)?;
        }
        Command::Gallery { action } => gallery(action, opt(&cli.device_key), json)?,
        Command::Events { action } => events(action, json)?,
        Command::Run { config } => {
            let models = cli::run::Models {
                detector: cli.detector,
                embedder: cli.embedder,
            };
            return cli::run::run(config, models, cli.threads.is_some(), json);
        }
        Command::UsbImport {
            from,
            config,
            partition,
        } => return cli::usb::import(from, config, partition),
        Command::UsbExport {
            from,
            config,
            partition,
            check,
        } => return cli::usb::export(from, config, partition, *check),
        Command::ExportRequest {
            sign,
            site,
            valid,
            out,
        } => cli::usb::make_request(sign, site, valid, out)?,
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
enum EventsAction {
    /// Print events as a table (or JSON lines with --json).
    List {
        /// Event log.
        #[arg(long, default_value = "/var/lib/facegate/events.log")]
        log: PathBuf,
        /// Only events since: RFC 3339, Unix seconds, or a duration ago (2h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// Only these kinds (granted, unknown, door-held-open …); repeatable.
        #[arg(long)]
        kind: Vec<facegate::events::EventKind>,
    },
    /// Export events as CSV or JSON.
    Export {
        /// Event log.
        #[arg(long, default_value = "/var/lib/facegate/events.log")]
        log: PathBuf,
        /// csv or json.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Only events since: RFC 3339, Unix seconds, or a duration ago (2h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// Write here (atomically) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn events(action: &EventsAction, json: bool) -> Result<()> {
    match action {
        EventsAction::List { log, since, kind } => {
            cli::events::list(log, since.as_deref(), kind, json)
        }
        EventsAction::Export {
            log,
            format,
            since,
            out,
        } => cli::events::export(log, format, since.as_deref(), out.as_deref()),
    }
}

fn gallery(action: &GalleryAction, device_key: Option<&std::path::Path>, json: bool) -> Result<()> {
    let inspect = g::Trust {
        device_key,
        ..g::Trust::default()
    };
    match action {
        GalleryAction::List { gallery } => g::list(&g::load(gallery, inspect)?, json),
        GalleryAction::Show { gallery, name } => g::show(&g::load(gallery, inspect)?, name, json)?,
        GalleryAction::Remove {
            gallery,
            name,
            sign,
            trust,
        } => g::edit(gallery, trust.with(sign, device_key), |gal| {
            let before = gal.body.persons.len();
            gal.body.persons.retain(|p| p.name.as_str() != name);
            anyhow::ensure!(gal.body.persons.len() < before, "no person named {name:?}");
            Ok(format!("removed {name}"))
        })?,
        GalleryAction::Rename {
            gallery,
            old,
            new,
            sign,
            trust,
        } => g::edit(gallery, trust.with(sign, device_key), |gal| {
            anyhow::ensure!(gal.find(new).is_none(), "{new:?} is already in the gallery");
            let new_name =
                facegate::gallery::format::Name::try_from(new.as_str()).map_err(|_| {
                    anyhow::anyhow!(
                        "name longer than {} bytes",
                        facegate::gallery::format::MAX_NAME
                    )
                })?;
            let p = gal
                .body
                .persons
                .iter_mut()
                .find(|p| p.name.as_str() == old)
                .ok_or_else(|| anyhow::anyhow!("no person named {old:?}"))?;
            p.name = new_name;
            Ok(format!("renamed {old} to {new}"))
        })?,
        GalleryAction::Merge {
            a,
            b,
            out,
            sign,
            trust,
        } => {
            let t = trust.with(sign, device_key);
            let merged = g::merge(&g::load_for_edit(a, t)?, &g::load_for_edit(b, t)?)?;
            g::save(&merged, out, opt(sign))?;
            println!(
                "{}: {} people, version {}",
                out.display(),
                merged.persons().len(),
                merged.header().version
            );
        }
        GalleryAction::Synthetic {
            gallery,
            people,
            out,
            sign,
            trust,
        } => {
            let base = g::load_for_edit(gallery, trust.with(sign, device_key))?;
            let real = base.persons().len();
            let padded = facegate::gallery::synthetic(base, *people);
            g::save(&padded, out, opt(sign))?;
            println!(
                "{}: {} people ({} random), version {}",
                out.display(),
                padded.persons().len(),
                padded.persons().len() - real,
                padded.header().version
            );
        }
        GalleryAction::Verify {
            gallery,
            keys,
            require_signature,
        } => {
            let trust = g::Trust {
                keys: opt(keys),
                ..inspect
            };
            g::verify(gallery, trust, *require_signature)?
        }
        GalleryAction::Install { file, config } => g::install(file, config)?,
        GalleryAction::Rollback { config } => g::rollback(config)?,
        GalleryAction::Stats { gallery } => {
            let gal: Gallery = g::load(gallery, inspect)?;
            g::stats(gallery, &gal, json)?;
        }
    }
    Ok(())
}
