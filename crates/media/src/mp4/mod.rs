//! ISO BMFF (MP4): reading files (box headers, sample tables, on-demand sample
//! reads) and writing fragmented MP4 (init segments and moof+mdat fragments).

pub mod boxes;
pub mod demux;
pub mod fmp4;
pub mod progressive;
pub mod sample_table;
pub mod stsd;
mod track_boxes;
pub mod write;
