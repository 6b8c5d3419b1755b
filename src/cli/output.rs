//! Writing to standard output without `println!`, which panics when the reader has gone
//! away; here a closed pipe is an error the caller can see and ignore.

use std::io::Write;

use serde::Serialize;

use super::CliError;

/// Prints one line.
pub fn line(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}

/// Prints a value as one line of JSON (for scripts and `jq`).
pub fn json_line(value: &impl Serialize) -> Result<(), CliError> {
    line(&to_json(serde_json::to_string(value))?)
}

/// Prints a value as indented JSON (for people).
pub fn json_pretty(value: &impl Serialize) -> Result<(), CliError> {
    line(&to_json(serde_json::to_string_pretty(value))?)
}

fn to_json(r: serde_json::Result<String>) -> Result<String, CliError> {
    r.map_err(|e| CliError::Invalid(format!("cannot encode JSON: {e}")))
}

/// A table printed with its columns aligned.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&'static str]) -> Self {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (one cell per header).
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// Prints the headers and rows, each column as wide as its widest cell.
    pub fn print(&self) -> Result<(), CliError> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let header: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        line(&render(&header, &widths))?;
        for row in &self.rows {
            line(&render(row, &widths))?;
        }
        Ok(())
    }
}

fn render(cells: &[String], widths: &[usize]) -> String {
    let padded: Vec<String> = cells
        .iter()
        .zip(widths)
        .map(|(cell, w)| format!("{cell:<w$}"))
        .collect();
    padded.join("  ").trim_end().to_owned()
}

/// Unix milliseconds as RFC 3339 UTC, the form the audit log uses.
pub fn time(ms: i64) -> String {
    hearth::store::audit::rfc3339(ms)
}
