//! MTCNN (work in progress).
