//! Import of MTCNN's weights from `models/mtcnn_{pnet,rnet,onet}.safetensors`
//! (`scripts/seed_models.py mtcnn`: facenet-pytorch's state_dicts as stored —
//! `conv1.weight`, `prelu1.weight`, `dense4.weight` `[out, in]`, … — with
//! `convN` / `poolN` attributes in the metadata). Every shape and attribute
//! is checked, and every tensor must be used.

use crate::vision::layers::LayerSource;
use crate::vision::weights::{ConvSpec, ConvWeights, Weights};
use crate::vision::{ModelError, ModelPaths};

use super::model::{ONET_TRUNK, PNET_TRUNK, RNET_TRUNK, TrunkLayer};

/// The three nets' export names.
pub const NETS: [&str; 3] = ["mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet"];

/// One net's weights, read by state_dict name in the order its builder asks.
pub struct Import {
    weights: Weights,
    trunk: &'static [TrunkLayer],
    /// Names of the layers after the trunk: P-Net's 1×1 convolutions, or the
    /// dense layers (the first is the hidden one).
    heads: &'static [&'static str],
    dense_taken: usize,
}

impl Import {
    /// The three nets' imports, or `None` when an export is missing.
    pub fn open_all(paths: &ModelPaths) -> Result<Option<[Import; 3]>, ModelError> {
        let files = NETS.map(|n| paths.file(n, "safetensors"));
        if !files.iter().all(|f| f.exists()) {
            return Ok(None);
        }
        let [p, r, o] = files;
        Ok(Some([
            Self::new(Weights::open(&p)?, &PNET_TRUNK, &["conv4_1", "conv4_2"])?,
            Self::new(
                Weights::open(&r)?,
                &RNET_TRUNK,
                &["dense4", "dense5_1", "dense5_2"],
            )?,
            Self::new(
                Weights::open(&o)?,
                &ONET_TRUNK,
                &["dense5", "dense6_1", "dense6_2", "dense6_3"],
            )?,
        ]))
    }

    /// Wraps one net's weights, checking its pools' attributes.
    pub fn new(
        weights: Weights,
        trunk: &'static [TrunkLayer],
        heads: &'static [&'static str],
    ) -> Result<Self, ModelError> {
        for (i, l) in trunk.iter().enumerate() {
            let name = format!("pool{}", i + 1);
            if l.pool > 0 {
                weights.check_attr(&name, &format!("kernel={},stride=2,ceil=1", l.pool))?;
            } else if let Some(found) = weights.attr(&name) {
                return Err(ModelError::Mismatch(format!(
                    "MTCNN: unexpected {name} ({found})"
                )));
            }
        }
        Ok(Self {
            weights,
            trunk,
            heads,
            dense_taken: 0,
        })
    }

    /// Fails if a tensor was left unused.
    pub fn finish(self) -> Result<(), ModelError> {
        self.weights.finish()
    }
}

impl LayerSource for Import {
    fn conv(&mut self, index: usize, spec: ConvSpec) -> Result<ConvWeights, ModelError> {
        let name = match index.checked_sub(self.trunk.len()) {
            None => format!("conv{}", index + 1),
            Some(h) => match self.heads.get(h) {
                Some(n) if n.starts_with("conv") => (*n).to_string(),
                _ => return Err(ModelError::Mismatch(format!("MTCNN has no conv {index}"))),
            },
        };
        self.weights.check_attr(&name, &spec.attrs())?;
        let weight = self
            .weights
            .take(&format!("{name}.weight"), &spec.weight_shape())?
            .data;
        let bias = self
            .weights
            .take(&format!("{name}.bias"), &[spec.cout])?
            .data;
        Ok(ConvWeights { spec, weight, bias })
    }

    fn prelu(&mut self, index: usize, channels: usize) -> Result<Vec<f32>, ModelError> {
        let name = format!("prelu{}.weight", index + 1);
        Ok(self.weights.take(&name, &[channels])?.data)
    }

    /// torch's `nn.Linear` weight `[out, in]`, transposed to burn's `[in, out]`.
    fn linear(&mut self, din: usize, dout: usize) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
        let name = match self.heads.get(self.dense_taken) {
            Some(n) if n.starts_with("dense") => *n,
            _ => return Err(ModelError::Mismatch("MTCNN: no more dense layers".into())),
        };
        self.dense_taken += 1;
        let w = self
            .weights
            .take(&format!("{name}.weight"), &[dout, din])?
            .data;
        let bias = self.weights.take(&format!("{name}.bias"), &[dout])?.data;
        let mut weight = vec![0.0; din * dout];
        for (o, row) in w.chunks_exact(din).enumerate() {
            for (i, &v) in row.iter().enumerate() {
                weight[i * dout + o] = v;
            }
        }
        Ok((weight, bias))
    }
}
