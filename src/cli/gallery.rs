//! `enroll`, `identify`, `gallery …`, `keygen`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use facegate::enroll::{self, Outcome};
use facegate::gallery::{Gallery, GalleryError, Index, Keyring, Policy, keys};
use facegate::vision::{EmbedderKind, Vision, picture};

/// Reading policy for a gallery named on the command line; `model_id`: the
/// embedder its templates must come from.
pub fn policy(
    keys_dir: Option<&Path>,
    model_id: Option<&str>,
    require_signature: bool,
) -> Result<Policy> {
    let keyring = match keys_dir {
        Some(dir) => Keyring::from_dir(dir)?,
        None => Keyring::default(),
    };
    Ok(Policy {
        model_id: model_id.map(str::to_string),
        keyring,
        require_signature,
        ..Policy::default()
    })
}

/// What the command line trusts when it reads a gallery: `--keys`, the
/// signing key of `--sign`, the device key that decrypts, and whether an
/// unverified input may be edited (`--allow-unverified`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Trust<'a> {
    pub keys: Option<&'a Path>,
    pub sign: Option<&'a Path>,
    pub allow_unverified: bool,
    pub device_key: Option<&'a Path>,
}

impl Trust<'_> {
    fn device_keys(&self) -> Result<Vec<facegate::gallery::DeviceKey>> {
        let path = match self.device_key {
            Some(p) => Some(p.to_path_buf()),
            None => std::env::var_os("FACEGATE_DEVICE_KEY").map(PathBuf::from),
        };
        path.map(|p| facegate::gallery::DeviceKey::read(&p))
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(Into::into)
    }
}

/// Loads a gallery to inspect: signatures are checked against `--keys` when
/// given, not checked otherwise; decrypted with the device key when given.
pub fn load(path: &Path, trust: Trust) -> Result<Gallery> {
    let policy = Policy {
        check_signature: trust.keys.is_some(),
        device_keys: trust.device_keys()?,
        ..policy(trust.keys, None, false)?
    };
    Gallery::load(path, &policy).with_context(|| format!("reading gallery {}", path.display()))
}

/// Loads a gallery that a command edits and writes again. When the output
/// is signed (`--sign`), the input must carry a valid signature by a key in
/// `--keys` or by the signing key itself: otherwise an unsigned or forged
/// copy (a threshold set to 0, a face swapped) would come out signed. With
/// `--allow-unverified` such an input is used anyway and the output is
/// marked as made from an unverified input.
pub fn load_for_edit(path: &Path, trust: Trust) -> Result<Gallery> {
    let Some(sign) = trust.sign else {
        return load(path, trust);
    };
    let mut keyring = match trust.keys {
        Some(dir) => Keyring::from_dir(dir)?.keys().to_vec(),
        None => Vec::new(),
    };
    keyring.push(keys::read_signing_key(sign)?.verifying_key());
    let strict = Policy {
        keyring: Keyring::new(keyring),
        require_signature: true,
        device_keys: trust.device_keys()?,
        ..Policy::default()
    };
    match Gallery::load(path, &strict) {
        Ok(g) => Ok(g),
        Err(
            e @ (GalleryError::Unsigned
            | GalleryError::UnknownKey(_)
            | GalleryError::BadSignature(_)),
        ) => {
            if !trust.allow_unverified {
                bail!(
                    "{}: {e}; the output would be signed by {}, so its input must be \
                     verified first: give the signer's public key with --keys DIR, or \
                     --allow-unverified to use it anyway (the output is then marked as \
                     made from an unverified input)",
                    path.display(),
                    sign.display()
                );
            }
            eprintln!(
                "warning: {}: {e}; used anyway (--allow-unverified): the output is marked as made from an unverified input",
                path.display()
            );
            let mut g = Gallery::load(
                path,
                &Policy {
                    check_signature: false,
                    require_signature: false,
                    ..strict
                },
            )
            .with_context(|| format!("reading gallery {}", path.display()))?;
            g.body.header.from_unverified = true;
            Ok(g)
        }
        Err(e) => Err(e).with_context(|| format!("reading gallery {}", path.display())),
    }
}

fn signing_key(path: Option<&Path>) -> Result<Option<ed25519_dalek::SigningKey>> {
    path.map(keys::read_signing_key)
        .transpose()
        .map_err(Into::into)
}

/// Writes `gallery`, signed when `sign` names a key.
pub fn save(gallery: &Gallery, path: &Path, sign: Option<&Path>) -> Result<()> {
    let key = signing_key(sign)?;
    if key.is_none() && gallery.header().issuer.is_some() {
        eprintln!(
            "warning: {} is written unsigned (pass --sign KEY to sign it)",
            path.display()
        );
    }
    gallery.save(path, key.as_ref())?;
    Ok(())
}

pub struct EnrollArgs<'a> {
    pub photos: &'a Path,
    pub out: &'a Path,
    pub update: Option<&'a Path>,
    pub report: Option<&'a Path>,
    pub threshold: Option<f32>,
    /// Raise the threshold to the one measured for this FPIR at the
    /// gallery's size (`VisionConfig::gallery_threshold`).
    pub fpir: Option<f64>,
    /// Device public keys (`*.x25519`) to encrypt the people to.
    pub encrypt_to: Option<&'a Path>,
    pub trust: Trust<'a>,
}

pub fn enroll(vision: &Vision, a: EnrollArgs, as_json: bool) -> Result<()> {
    let previous = a.update.map(|p| load_for_edit(p, a.trust)).transpose()?;
    let info = vision.info();
    if let Some(p) = &previous
        && p.header().model_id.as_str() != info.model_id
    {
        bail!(
            "{}: made with model {}; these photos would be embedded with {} (--embedder {}); \
             templates of two models do not compare",
            a.update
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            p.header().model_id,
            info.model_id,
            info.name
        );
    }
    if let Some(f) = a.fpir {
        vision
            .config
            .check_fpir(f)
            .map_err(|m| anyhow::anyhow!("--fpir: {m}; give --threshold instead"))?;
    }
    let threshold = a
        .threshold
        .or(previous.as_ref().map(|g| g.header().threshold))
        .unwrap_or(vision.default_threshold());
    let mut base = Gallery::new(
        info.model_id,
        info.weights_sha256,
        info.dim as u16,
        threshold,
    );
    if let Some(p) = &previous {
        // An edit keeps the devices it was encrypted to, and its provenance.
        base.recipients = p.recipients.clone();
        base.body.header.from_unverified = p.header().from_unverified;
    }
    if let Some(dir) = a.encrypt_to {
        base.recipients = facegate::gallery::seal::read_recipients(dir)?;
    }
    let total: usize = enroll::scan(a.photos)?.iter().map(|p| p.files.len()).sum();
    let bar = ProgressBar::new(total as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let options = enroll::Options {
        previous,
        ..Default::default()
    };
    let (mut gallery, report) = enroll::enroll(vision, a.photos, base, &options, |f| {
        bar.set_message(f.person.clone());
        bar.inc(1);
        if let Outcome::Failed(reason) = &f.outcome {
            bar.println(format!("failed  {}: {reason}", f.file.display()));
        }
    })?;
    bar.finish_and_clear();
    if let Some(t) = a
        .fpir
        .and_then(|f| vision.config.gallery_threshold(gallery.persons().len(), f))
    {
        gallery.body.header.threshold = threshold.max(t);
    }
    save(&gallery, a.out, a.trust.sign)?;
    if let Some(path) = a.report {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let (enrolled, reused, skipped, failed) = report.counts();
    if as_json {
        println!(
            "{}",
            json!({"gallery": a.out, "version": gallery.header().version, "persons": gallery.persons().len(), "threshold": gallery.header().threshold, "enrolled": enrolled, "reused": reused, "skipped": skipped, "failed": failed, "report": report})
        );
        return Ok(());
    }
    println!(
        "{:<28} {:>6} {:>8} {:>6} {:>7} {:>6}",
        "person", "photos", "enrolled", "reused", "skipped", "failed"
    );
    let mut people: Vec<&str> = report.files.iter().map(|f| f.person.as_str()).collect();
    people.dedup();
    for person in people {
        let files: Vec<_> = report.files.iter().filter(|f| f.person == person).collect();
        let count = |k: fn(&Outcome) -> bool| files.iter().filter(|f| k(&f.outcome)).count();
        println!(
            "{:<28} {:>6} {:>8} {:>6} {:>7} {:>6}",
            person,
            files.len(),
            count(|o| matches!(o, Outcome::Enrolled)),
            count(|o| matches!(o, Outcome::Reused)),
            count(|o| matches!(o, Outcome::Skipped(_))),
            count(|o| matches!(o, Outcome::Failed(_)))
        );
    }
    for f in &report.files {
        match &f.outcome {
            Outcome::Skipped(r) => println!("skipped {}: {r}", f.file.display()),
            Outcome::Failed(r) => println!("failed  {}: {r}", f.file.display()),
            _ => {}
        }
        for w in &f.warnings {
            println!("warning {}: {w}", f.file.display());
        }
    }
    for p in &report.empty_persons {
        println!("warning {p}: no usable photo; not enrolled");
    }
    for l in &report.lookalikes {
        println!(
            "warning {} and {} match each other ({:.3} ≥ threshold {:.3})",
            l.a, l.b, l.score, threshold
        );
    }
    println!(
        "{}: {} people, {} templates, version {}, threshold {:.3} ({enrolled} enrolled, {reused} reused, {skipped} skipped, {failed} failed)",
        a.out.display(),
        gallery.persons().len(),
        gallery
            .persons()
            .iter()
            .map(|p| p.templates.len())
            .sum::<usize>(),
        gallery.header().version,
        gallery.header().threshold
    );
    Ok(())
}

pub fn identify(
    vision: &Vision,
    image: &Path,
    gallery_path: &Path,
    top: usize,
    trust: Trust,
    as_json: bool,
) -> Result<()> {
    let policy = Policy {
        device_keys: trust.device_keys()?,
        ..policy(trust.keys, Some(vision.info().model_id), false)?
    };
    let gallery = Gallery::load(gallery_path, &policy)
        .with_context(|| format!("reading gallery {}", gallery_path.display()))?;
    let index = Index::new(&gallery);
    let threshold = gallery.header().threshold;
    let img = picture::load(image)?;
    let faces = vision.faces(&img);
    let results: Vec<_> = faces
        .iter()
        .map(|face| {
            let matches = index.search(&face.embedding, top.max(1));
            let ranked: Vec<_> = matches
                .iter()
                .take(top)
                .map(|m| {
                    let p = &gallery.persons()[m.person];
                    json!({"id": p.id, "name": p.name.as_str(), "score": m.score, "l2": m.l2(),
                           "squared_l2": m.l2() * m.l2()})
                })
                .collect();
            let decision = match matches.first() {
                Some(m) if m.score >= threshold => {
                    let p = &gallery.persons()[m.person];
                    json!({"person": p.name.as_str(), "id": p.id, "score": m.score})
                }
                _ => json!("unknown"),
            };
            json!({"bbox": face.detection.bbox, "detector_score": face.detection.score, "decision": decision, "ranked": ranked})
        })
        .collect();
    if as_json {
        println!(
            "{}",
            json!({"image": image, "gallery": gallery_path, "threshold": threshold, "faces": results})
        );
        return Ok(());
    }
    if results.is_empty() {
        println!("{}: no face found", image.display());
    }
    for (i, r) in results.iter().enumerate() {
        let decision = match &r["decision"] {
            serde_json::Value::String(s) => s.clone(),
            d => format!(
                "{} ({:.3})",
                d["person"].as_str().unwrap_or("?"),
                d["score"].as_f64().unwrap_or(0.0)
            ),
        };
        println!("face {} at {}: {decision}", i + 1, r["bbox"]);
        for m in r["ranked"].as_array().into_iter().flatten() {
            // The seed ranks by squared L2, ascending: the same order.
            println!(
                "  {:<28} cosine {:>7.4}  l2 {:.4}  squared l2 {:.4}",
                m["name"].as_str().unwrap_or("?"),
                m["score"].as_f64().unwrap_or(0.0),
                m["l2"].as_f64().unwrap_or(0.0),
                m["squared_l2"].as_f64().unwrap_or(0.0)
            );
        }
    }
    Ok(())
}

pub fn list(g: &Gallery, as_json: bool) {
    if as_json {
        let persons: Vec<_> = g
            .persons()
            .iter()
            .map(|p| json!({"id": p.id, "name": p.name.as_str(), "templates": p.templates.len()}))
            .collect();
        println!("{}", json!({"persons": persons}));
        return;
    }
    for p in g.persons() {
        println!(
            "{:>6}  {:<32} {} template(s)",
            p.id,
            p.name.as_str(),
            p.templates.len()
        );
    }
}

pub fn show(g: &Gallery, name: &str, as_json: bool) -> Result<()> {
    let Some(p) = g.find(name) else {
        bail!("no person named {name:?}")
    };
    let info = json!({
        "id": p.id, "name": p.name.as_str(), "badge": p.badge.as_ref().map(|b| b.as_str()),
        "valid_from": p.valid_from, "valid_until": p.valid_until,
        "templates": p.templates.iter().map(|t| json!({"source_sha256_prefix": keys::hex(&t.source), "scale": t.scale})).collect::<Vec<_>>(),
    });
    if as_json {
        println!("{info}");
    } else {
        println!("{}", serde_json::to_string_pretty(&info)?);
    }
    Ok(())
}

/// Applies `edit` to the gallery at `path`, bumps its version and writes it back.
pub fn edit(
    path: &Path,
    trust: Trust,
    edit: impl FnOnce(&mut Gallery) -> Result<String>,
) -> Result<()> {
    let mut g = load_for_edit(path, trust)?;
    let done = edit(&mut g)?;
    g.body.header.version += 1;
    save(&g, path, trust.sign)?;
    println!(
        "{done}; {} is now version {}",
        path.display(),
        g.header().version
    );
    Ok(())
}

pub fn merge(a: &Gallery, b: &Gallery) -> Result<Gallery> {
    if a.header().model_id != b.header().model_id
        || a.header().embedding_dim != b.header().embedding_dim
    {
        bail!(
            "galleries were made with different models ({} and {})",
            a.header().model_id,
            b.header().model_id
        );
    }
    let mut out = a.clone();
    let mut next = out.persons().iter().map(|p| p.id).max().unwrap_or(0) + 1;
    for p in b.persons() {
        match out.body.persons.iter_mut().find(|q| q.name == p.name) {
            Some(q) => {
                for t in &p.templates {
                    if q.templates.len() < facegate::gallery::format::MAX_TEMPLATES
                        && !q.templates.iter().any(|u| u.source == t.source)
                    {
                        q.templates.push(t.clone());
                    }
                }
            }
            None => {
                let mut p = p.clone();
                p.id = next;
                next += 1;
                out.body.persons.push(p);
            }
        }
    }
    out.body.header.version = a.header().version.max(b.header().version) + 1;
    out.body.header.from_unverified |= b.header().from_unverified;
    Ok(out)
}

pub fn verify(path: &Path, trust: Trust, require_signature: bool) -> Result<()> {
    let policy = Policy {
        device_keys: trust.device_keys()?,
        ..policy(trust.keys, None, require_signature)?
    };
    let g =
        Gallery::load(path, &policy).with_context(|| format!("verifying {}", path.display()))?;
    let model = g.header().model_id.as_str();
    let Some(embedder) = EmbedderKind::for_model_id(model) else {
        bail!(
            "{}: made for model {model}, which this facegate does not have",
            path.display()
        );
    };
    let signer = g.signed_by.map_or_else(
        || "unsigned".to_string(),
        |id| format!("signed by key {}", keys::hex(&id)),
    );
    let provenance = if g.header().from_unverified {
        ", made from an unverified input (--allow-unverified)"
    } else {
        ""
    };
    let sealed = if g.recipients.is_empty() {
        ", not encrypted".to_string()
    } else {
        format!(", encrypted to {} device key(s)", g.recipients.len())
    };
    println!(
        "{}: OK, {} templates, version {}, {} people, {signer}{sealed}{provenance}",
        path.display(),
        embedder.name(),
        g.header().version,
        g.persons().len()
    );
    Ok(())
}

pub fn stats(path: &Path, g: &Gallery, as_json: bool) -> Result<()> {
    let size = std::fs::metadata(path)?.len();
    let templates: usize = g.persons().iter().map(|p| p.templates.len()).sum();
    let persons = g.persons().len();
    let per_person = if persons > 0 {
        size as f64 / persons as f64
    } else {
        0.0
    };
    let per_template = if templates > 0 {
        size as f64 / templates as f64
    } else {
        0.0
    };
    let h = g.header();
    if as_json {
        println!(
            "{}",
            json!({"file_bytes": size, "persons": persons, "templates": templates, "bytes_per_person": per_person, "bytes_per_template": per_template, "model_id": h.model_id.as_str(), "version": h.version, "threshold": h.threshold, "signed": h.issuer.is_some(), "signature_verified": g.signed_by.is_some()})
        );
    } else {
        println!(
            "{}: {size} bytes, {persons} people, {templates} templates",
            path.display()
        );
        println!(
            "  {per_person:.0} bytes per person, {per_template:.0} bytes per template (int8, {} components)",
            h.embedding_dim
        );
        println!(
            "  model {}, version {}, threshold {:.3}, {}",
            h.model_id,
            h.version,
            h.threshold,
            match (h.issuer, g.signed_by) {
                (_, Some(_)) => "signature verified",
                (Some(_), None) => "signed (check it with `gallery verify --keys`)",
                (None, _) => "unsigned",
            }
        );
    }
    Ok(())
}

pub fn keygen(stem: &Path) -> Result<()> {
    let (secret, public, key) = keys::generate(stem)?;
    println!("key id {}", keys::hex(&keys::key_id(&key.verifying_key())));
    println!(
        "secret key {} (keep it off the terminals)",
        secret.display()
    );
    println!(
        "public key {} (copy to /etc/facegate/keys/ on each terminal)",
        public.display()
    );
    Ok(())
}

/// `device-key --out FILE [--if-missing]`.
pub fn device_key(out: &Path, if_missing: bool) -> Result<()> {
    let public = facegate::gallery::seal::public_path(out);
    if if_missing && out.exists() {
        let key = facegate::gallery::DeviceKey::read(out)?;
        println!(
            "device key {} exists; public key {} ({})",
            keys::hex(&key.id()),
            keys::hex(&key.public()),
            public.display()
        );
        return Ok(());
    }
    let key = facegate::gallery::DeviceKey::generate()?;
    let written = key.write(out)?;
    println!("device key {}", keys::hex(&key.id()));
    println!(
        "secret {} (0600: never copy it off this device)",
        out.display()
    );
    println!(
        "public {} (copy it into the folder given to `facegate enroll --encrypt-to`)",
        written.display()
    );
    println!("public key {}", keys::hex(&key.public()));
    Ok(())
}

/// `gallery install FILE --config C`.
pub fn install(file: &Path, config_path: &Path) -> Result<()> {
    let config = facegate::config::Config::load(config_path)?;
    let policy = facegate::terminal::gallery_policy(&config)?;
    let store = facegate::update::Store::new(&config.resolve(&config.terminal.gallery));
    let installed = Gallery::load(store.current(), &policy)
        .ok()
        .map(|g| g.header().version);
    let g = store.install_file(file, &policy, installed)?;
    println!(
        "installed {} as {}: version {} (was {}), {} people, {}",
        file.display(),
        store.current().display(),
        g.header().version,
        installed.map_or("none".into(), |v| v.to_string()),
        g.persons().len(),
        g.signed_by.map_or("unsigned".into(), |k| format!(
            "signed by {}",
            keys::hex(&k)
        ))
    );
    println!(
        "a running terminal picks it up within [update] poll_ms; previous kept as {}",
        store.previous().display()
    );
    Ok(())
}

/// `gallery rollback --config C`.
pub fn rollback(config_path: &Path) -> Result<()> {
    let config = facegate::config::Config::load(config_path)?;
    let policy = facegate::terminal::gallery_policy(&config)?;
    let store = facegate::update::Store::new(&config.resolve(&config.terminal.gallery));
    let g = store.rollback(&policy)?;
    println!(
        "rolled back {} to version {} ({} people); the replaced one is now {}",
        store.current().display(),
        g.header().version,
        g.persons().len(),
        store.previous().display()
    );
    Ok(())
}

pub fn opt(p: &Option<PathBuf>) -> Option<&Path> {
    p.as_deref()
}
