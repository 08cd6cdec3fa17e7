//! Everything the commands show: text on standard output and error, tables, progress bars
//! and plots.

pub mod glyph;
pub mod init;
pub mod plot;
pub mod progress;
pub mod propagate;
pub mod say;
pub mod table;
pub mod train_plot;
