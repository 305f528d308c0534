//! FaceNet (work in progress).
