//! Reading what the reference scripts (`scripts/generate_reference*.py`)
//! write: JSON, little-endian f32 files, and running the seed script.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The f32 values of a raw file named by `{"file": …}` under `dir`.
pub fn f32_file(dir: &Path, v: &Value) -> Vec<f32> {
    f32s(&dir.join(v["file"].as_str().expect("file")))
}

/// The little-endian f32 values of `path`.
pub fn f32s(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// A JSON array of numbers.
pub fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

/// Runs `scripts/generate_reference_seed.py OUT INPUTS --models M ARGS…`
/// with the venv's Python and returns its `reference.json`.
pub fn seed(inputs: &Path, out: &Path, args: &[&std::ffi::OsStr]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/generate_reference_seed.py");
    let python = std::env::var("FACEGATE_PYTHON").unwrap_or_else(|_| "python3".into());
    let run = Command::new(python)
        .arg(&script)
        .arg(out)
        .arg(inputs)
        .arg("--models")
        .arg(super::models().dir())
        .args(args)
        .output()
        .expect("running scripts/generate_reference_seed.py");
    assert!(
        run.status.success(),
        "generate_reference_seed.py failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(out.join("reference.json")).expect("reference.json");
    serde_json::from_str(&text).expect("JSON")
}

/// Five `[x, y]` landmarks from a JSON list of pairs.
pub fn landmarks(v: &Value) -> [[f32; 2]; 5] {
    let lm: Vec<Vec<f32>> = v
        .as_array()
        .expect("landmarks")
        .iter()
        .map(floats)
        .collect();
    std::array::from_fn(|k| [lm[k][0], lm[k][1]])
}

/// A detection from `{box_key: [x, y, w, h], "landmarks", "score"}`.
pub fn detection(v: &Value, box_key: &str) -> facegate::vision::Detection {
    let b = floats(&v[box_key]);
    facegate::vision::Detection {
        bbox: [b[0], b[1], b[2], b[3]],
        landmarks: landmarks(&v["landmarks"]),
        score: v["score"].as_f64().expect("score") as f32,
    }
}

/// The interpreter of `$FACEGATE_CACHE/venv-torch` (setup.sh's
/// `ensure_torch_python`); a test that needs it fails without it.
pub fn torch_python() -> PathBuf {
    let cache = std::env::var_os("FACEGATE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/facegate")
        });
    let py = cache.join("venv-torch/bin/python");
    assert!(
        py.exists(),
        "facenet-pytorch's reference needs torch: {} is missing. Make it with\n  \
         python3 -m venv {venv} && {venv}/bin/pip install torch torchvision pillow numpy",
        py.display(),
        venv = cache.join("venv-torch").display()
    );
    py
}
