//! Tables for people (aligned columns) and for issues and docs (Markdown).

/// A header and rows of cells.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Right-align the cells (numbers); else left-align (text).
    right: bool,
}

impl Table {
    pub fn new(header: &[&str], right: bool) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            right,
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Columns padded to their widest cell, two spaces apart.
    pub fn text(&self) -> String {
        let mut width: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (w, c) in width.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&width)
                .map(|(c, &w)| {
                    if self.right {
                        format!("{c:>w$}")
                    } else {
                        format!("{c:<w$}")
                    }
                })
                .collect();
            padded.join("  ").trim_end().to_string() + "\n"
        };
        let mut s = line(&self.header);
        for r in &self.rows {
            s += &line(r);
        }
        s
    }

    pub fn markdown(&self) -> String {
        let rule = if self.right { "---:|" } else { "---|" };
        let mut s = format!(
            "| {} |\n|{}\n",
            self.header.join(" | "),
            rule.repeat(self.header.len())
        );
        for r in &self.rows {
            let cells: Vec<String> = r.iter().map(|c| c.replace('|', "\\|")).collect();
            s += &format!("| {} |\n", cells.join(" | "));
        }
        s
    }
}
