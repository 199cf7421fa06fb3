//! The report's charts as SVG, drawn with plotters: the speedup per model, the heatmaps of
//! max-num-seqs x max-num-batched-tokens and the speculative-decoding bars. Colours come
//! from viridis, whose lightness rises steadily, so every chart reads in greyscale too.

use std::fmt::Write as _;

use bench_core::report::{Cell, Heatmap, SpecChart};
use bench_core::summary::round_half_even;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{
    DefaultFormatting, DiscreteRanged, KeyPointHint, Ranged, SegmentedCoord,
};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A chart: its title, its SVG and a one-line text alternative.
#[derive(Debug, Clone)]
pub struct Chart {
    /// The chart's title, also its caption.
    pub title: String,
    /// The whole `<svg>` element.
    pub svg: String,
    /// What the chart shows, in words, for those who cannot see it.
    pub alt: String,
}

/// A drawing error of plotters, as text.
fn drawing<E: std::fmt::Debug>(err: E) -> anyhow::Error {
    anyhow::anyhow!("failed to draw a chart: {err:?}")
}

const FONT: &str = "sans-serif";
/// The colour of cells whose runs failed: a light grey, lighter than any viridis value
/// behind a dark label.
const FAILED_FILL: RGBColor = RGBColor(215, 215, 215);

/// Draw on an SVG canvas of `size` and return the SVG text.
fn svg(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<String> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        draw(&root)?;
        root.present().map_err(drawing)?;
    }
    Ok(text)
}

/// `count` categories (`0..count`) on an axis, evenly spaced: plotters' own integer ranges
/// include their end (one empty segment too many) and map a range of one value off the
/// axis, so a chart of one row or column would draw nothing.
#[derive(Debug, Clone, Copy)]
pub struct Categories(usize);

impl Ranged for Categories {
    type FormatOption = DefaultFormatting;
    type ValueType = usize;

    fn map(&self, value: &usize, limit: (i32, i32)) -> i32 {
        // The segmented axis asks for the start of each segment within `limit`, which ends
        // where the last segment starts.
        let steps = self.0.saturating_sub(1).max(1);
        let span = f64::from(limit.1 - limit.0);
        #[expect(
            clippy::cast_possible_truncation,
            reason = "a pixel position within the chart"
        )]
        let pixel = (f64::from(limit.0) + span * (*value as f64) / steps as f64).round() as i32;
        pixel
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<usize> {
        (0..self.0).collect()
    }

    fn range(&self) -> std::ops::Range<usize> {
        0..self.0
    }
}

impl DiscreteRanged for Categories {
    fn size(&self) -> usize {
        self.0
    }

    fn index_of(&self, value: &usize) -> Option<usize> {
        (*value < self.0).then_some(*value)
    }

    fn from_index(&self, index: usize) -> Option<usize> {
        (index < self.0).then_some(index)
    }
}

/// `count` categories on an axis, each a segment with its label at its centre.
fn categories(count: usize) -> SegmentedCoord<Categories> {
    Categories(count.max(1)).into_segmented()
}

/// The most characters of a name shown in a chart (the tables hold it whole).
const MAX_LABEL_CHARS: usize = 40;

/// `text` cut to [`MAX_LABEL_CHARS`] characters, the cut marked with `…`.
fn short(text: &str) -> String {
    if text.chars().count() <= MAX_LABEL_CHARS {
        text.to_owned()
    } else {
        let kept: String = text.chars().take(MAX_LABEL_CHARS - 1).collect();
        format!("{kept}…")
    }
}

/// The edge before segment `index` of `count` on a category axis: the last edge is
/// plotters' `Last` (an `Exact` past the range has no width when there is one segment).
fn edge(index: usize, count: usize) -> SegmentValue<usize> {
    if index >= count {
        SegmentValue::Last
    } else {
        SegmentValue::Exact(index)
    }
}

/// The row of a horizontal bar chart that shows item `index` of `count` first at the top
/// (plotters counts rows from the bottom), and the item a row shows.
fn top_down(count: usize, index: usize) -> usize {
    count.saturating_sub(1).saturating_sub(index)
}

/// Characters of the longest label, for the label area's width.
fn longest(labels: impl IntoIterator<Item = usize>) -> u32 {
    u32::try_from(labels.into_iter().max().unwrap_or(0)).unwrap_or(u32::MAX)
}

/// A bar of a horizontal bar chart.
struct Bar {
    /// Its label on the axis.
    label: String,
    /// Its length, in the chart's unit.
    value: f64,
    /// The text at its end.
    text: String,
    /// Its colour.
    fill: RGBColor,
}

/// What a legend entry shows before its text.
enum Swatch {
    /// A filled square of a bar colour.
    Fill(RGBColor),
    /// A vertical line, as the chart's reference line.
    Line,
}

/// A horizontal bar chart: bars top down in the given order, a vertical reference line,
/// a legend below.
struct BarChart<'a> {
    caption: String,
    x_desc: &'a str,
    y_desc: &'a str,
    x_format: &'a dyn Fn(&f64) -> String,
    bars: Vec<Bar>,
    /// The reference line's position and stroke width.
    line: Option<(f64, u32)>,
    legend: Vec<(Swatch, String)>,
}

/// Draw a [`BarChart`] as SVG.
fn horizontal_bars(spec: &BarChart) -> anyhow::Result<String> {
    let count = spec.bars.len();
    let high = spec
        .bars
        .iter()
        .map(|bar| bar.value)
        .chain(spec.line.map(|(at, _)| at))
        .fold(0.0, f64::max)
        * 1.35
        + f64::MIN_POSITIVE;
    let label_width = 8 * longest(spec.bars.iter().map(|bar| bar.label.chars().count())) + 20;
    let legend_height = if spec.legend.is_empty() { 0 } else { 40 };
    let height = 90 + legend_height + 28 * u32::try_from(count).unwrap_or(u32::MAX / 64);
    svg((label_width + 600, height), |root| {
        let (main, legend) = root.split_vertically(height - legend_height);
        let mut chart = ChartBuilder::on(&main)
            .caption(&spec.caption, (FONT, 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(label_width)
            .build_cartesian_2d(0.0..high, categories(count))
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .x_desc(spec.x_desc)
            .y_desc(spec.y_desc)
            .x_label_formatter(spec.x_format)
            .y_labels(count)
            .y_label_formatter(&|value| match value {
                SegmentValue::CenterOf(row) => spec
                    .bars
                    .get(top_down(count, *row))
                    .map_or_else(String::new, |bar| bar.label.clone()),
                _ => String::new(),
            })
            .draw()
            .map_err(drawing)?;
        chart
            .draw_series(spec.bars.iter().enumerate().map(|(index, bar)| {
                let row = top_down(count, index);
                let mut rect = Rectangle::new(
                    [(0.0, edge(row, count)), (bar.value, edge(row + 1, count))],
                    bar.fill.filled(),
                );
                rect.set_margin(3, 3, 0, 0);
                rect
            }))
            .map_err(drawing)?;
        chart
            .draw_series(spec.bars.iter().enumerate().map(|(index, bar)| {
                Text::new(
                    format!(" {}", bar.text),
                    (bar.value, SegmentValue::CenterOf(top_down(count, index))),
                    left_text(14),
                )
            }))
            .map_err(drawing)?;
        if let Some((at, width)) = spec.line {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    [(at, edge(0, count)), (at, edge(count, count))],
                    BLACK.stroke_width(width),
                )))
                .map_err(drawing)?;
        }
        let mut left = 20;
        for (swatch, text) in &spec.legend {
            match swatch {
                Swatch::Fill(fill) => legend.draw(&Rectangle::new(
                    [(left, 10), (left + 18, 26)],
                    fill.filled(),
                )),
                Swatch::Line => legend.draw(&PathElement::new(
                    [(left + 9, 6), (left + 9, 30)],
                    BLACK.stroke_width(2),
                )),
            }
            .map_err(drawing)?;
            legend
                .draw(&Text::new(text.clone(), (left + 24, 18), left_text(15)))
                .map_err(drawing)?;
            left += 40 + 8 * i32::try_from(text.chars().count()).unwrap_or(0);
        }
        Ok(())
    })
}

/// Black text of `size`, anchored at its left end and vertical centre.
fn left_text(size: u32) -> TextStyle<'static> {
    (FONT, size)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center))
}

/// The speedup of each model's best run over its baseline, a horizontal bar each, highest
/// first, with a line at 1x.
pub fn speedup_chart(speedups: &[(String, f64)]) -> anyhow::Result<Chart> {
    let title = "Speedup of the best run over the baseline, per model".to_owned();
    let fill = ViridisRGB.get_color(0.35_f32);
    let svg = horizontal_bars(&BarChart {
        caption: title.clone(),
        x_desc: "speedup (best tokens/s per GPU / baseline tokens/s per GPU, x)",
        y_desc: "model",
        x_format: &|speedup| format!("{speedup:.1}x"),
        bars: speedups
            .iter()
            .map(|(model, speedup)| Bar {
                label: short(model),
                value: *speedup,
                text: format!("{speedup:.2}x"),
                fill,
            })
            .collect(),
        line: Some((1.0, 1)),
        legend: Vec::new(),
    })?;
    let alt = format!(
        "Bar chart of the speedup per model, highest first: {}.",
        speedups
            .iter()
            .map(|(model, speedup)| format!("{model} {speedup:.2}x"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(Chart { title, svg, alt })
}

/// The text of a heatmap cell: the value rounded, the failure, or nothing.
pub fn cell_text(cell: &Cell) -> String {
    match cell {
        Cell::Value(value) => round_half_even(*value),
        Cell::Failed(comment) => comment.clone(),
        Cell::Blank => String::new(),
    }
}

/// A heatmap's title.
pub fn heatmap_title(map: &Heatmap) -> String {
    format!(
        "{} at tp {}: output tokens/s per GPU by max-num-seqs and max-num-batched-tokens",
        map.model, map.tp
    )
}

/// One heatmap: a cell per max-num-seqs (x) and max-num-batched-tokens (y) with its value
/// (or failure), a labelled colour scale, and the best and baseline cells outlined and
/// named in the legend. `None` when no cell has a value (nothing to colour).
pub fn heatmap_chart(map: &Heatmap) -> anyhow::Result<Option<Chart>> {
    let Some((low, high)) = map.value_range() else {
        return Ok(None);
    };
    let title = heatmap_title(map);
    let (nx, ny) = (map.max_num_seqs.len(), map.max_num_batched_tokens.len());
    let cell_w = 86;
    let cell_h = 44;
    let plot_w = u32::try_from(nx).unwrap_or(1000).min(1000) * cell_w;
    let plot_h = (u32::try_from(ny).unwrap_or(1000).min(1000) * cell_h).max(240);
    let width = (plot_w + 140).max(420) + 150;
    let height = plot_h + 160;
    let svg = svg((width, height), |root| {
        let (main, scale) = root.split_horizontally(width - 150);
        let (main, legend) = main.split_vertically(height - 50);
        let mut chart = ChartBuilder::on(&main)
            .caption(format!("{}, tp {}", short(&map.model), map.tp), (FONT, 20))
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d(categories(nx), categories(ny))
            .map_err(drawing)?;
        let label = |values: &[u64], at: &SegmentValue<usize>| match at {
            SegmentValue::CenterOf(index) => values
                .get(*index)
                .map_or_else(String::new, ToString::to_string),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .x_desc("max-num-seqs (sequences)")
            .y_desc("max-num-batched-tokens (tokens)")
            .x_labels(nx)
            .y_labels(ny)
            .x_label_formatter(&|at| label(&map.max_num_seqs, at))
            .y_label_formatter(&|at| label(&map.max_num_batched_tokens, at))
            .draw()
            .map_err(drawing)?;
        let at = |x: usize, y: usize| {
            [
                (edge(x, nx), edge(y, ny)),
                (edge(x + 1, nx), edge(y + 1, ny)),
            ]
        };
        let cells = || {
            map.cells
                .iter()
                .enumerate()
                .flat_map(|(y, line)| line.iter().enumerate().map(move |(x, cell)| (x, y, cell)))
        };
        let colour = |value: f64| {
            #[expect(clippy::cast_possible_truncation, reason = "a colour position")]
            let position = if high > low {
                ((value - low) / (high - low)) as f32
            } else {
                1.0
            };
            ViridisRGB.get_color(position)
        };
        chart
            .draw_series(cells().filter_map(|(x, y, cell)| {
                let fill = match cell {
                    Cell::Value(value) => colour(*value),
                    Cell::Failed(_) => FAILED_FILL,
                    Cell::Blank => return None,
                };
                Some(Rectangle::new(at(x, y), fill.filled()))
            }))
            .map_err(drawing)?;
        chart
            .draw_series(cells().map(|(x, y, cell)| {
                // Dark text on the light half of the scale and on failed cells.
                let light = match cell {
                    // One value is drawn at the light end of the scale.
                    Cell::Value(value) => high <= low || (value - low) / (high - low) > 0.55,
                    _ => true,
                };
                let ink = if light { BLACK } else { WHITE };
                let style = (FONT, 14)
                    .into_font()
                    .color(&ink)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                // The value, and under it the cell's marks (best, baseline) in words.
                let marks = map.marks(x, y).join(", ");
                let lift = if marks.is_empty() { 0 } else { 7 };
                EmptyElement::at((SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)))
                    + Text::new(cell_text(cell), (0, -lift), style.clone())
                    + Text::new(marks, (0, 9), style)
            }))
            .map_err(drawing)?;
        let mut outlines = Vec::new();
        if let Some((x, y)) = map.baseline {
            outlines.push((
                format!(
                    "baseline (vLLM defaults): mns {}, mnbt {}",
                    map.max_num_seqs[x], map.max_num_batched_tokens[y]
                ),
                (x, y),
                BLACK.stroke_width(2),
            ));
        }
        if let Some((x, y)) = map.best {
            outlines.push((
                format!(
                    "best: mns {}, mnbt {}",
                    map.max_num_seqs[x], map.max_num_batched_tokens[y]
                ),
                (x, y),
                BLACK.stroke_width(5),
            ));
        }
        // Outlines as closed paths: plotters' SVG rectangles ignore the stroke width.
        chart
            .draw_series(outlines.iter().map(|(_, (x, y), stroke)| {
                let corner = |dx: usize, dy: usize| (edge(x + dx, nx), edge(y + dy, ny));
                PathElement::new(
                    [
                        corner(0, 0),
                        corner(1, 0),
                        corner(1, 1),
                        corner(0, 1),
                        corner(0, 0),
                    ],
                    *stroke,
                )
            }))
            .map_err(drawing)?;
        // The legend: each outline's look and name.
        for (index, (name, _, stroke)) in outlines.iter().enumerate() {
            let left = 20 + 330 * i32::try_from(index).unwrap_or(0);
            legend
                .draw(&PathElement::new(
                    [
                        (left, 12),
                        (left + 26, 12),
                        (left + 26, 32),
                        (left, 32),
                        (left, 12),
                    ],
                    *stroke,
                ))
                .map_err(drawing)?;
            legend
                .draw(&Text::new(name.clone(), (left + 34, 22), left_text(15)))
                .map_err(drawing)?;
        }
        colour_scale(&scale, low, high, height, &colour)
    })?;
    let mut alt = format!(
        "Heatmap of output tokens/s per GPU for {} at tp {} over max-num-seqs {} and \
         max-num-batched-tokens {}; values from {} to {} tokens/s per GPU",
        map.model,
        map.tp,
        join(&map.max_num_seqs),
        join(&map.max_num_batched_tokens),
        round_half_even(low),
        round_half_even(high)
    );
    if let Some((x, y)) = map.best {
        let _ = write!(
            alt,
            "; best at max-num-seqs {}, max-num-batched-tokens {}",
            map.max_num_seqs[x], map.max_num_batched_tokens[y]
        );
    }
    alt.push_str(". The table below holds every cell.");
    Ok(Some(Chart { title, svg, alt }))
}

fn join(values: &[u64]) -> String {
    values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The colour scale at the right of a heatmap: the colours from `low` (bottom) to `high`,
/// with its axis in tokens/s per GPU.
fn colour_scale(
    area: &DrawingArea<SVGBackend, Shift>,
    low: f64,
    high: f64,
    height: u32,
    colour: &dyn Fn(f64) -> RGBColor,
) -> anyhow::Result<()> {
    let (low_axis, high_axis) = if high > low {
        (low, high)
    } else {
        // One value: a scale 5 % either side of it, so that its labels differ.
        let spread = (low.abs() * 0.05).max(1.0);
        (low - spread, high + spread)
    };
    let mut chart = ChartBuilder::on(area)
        .margin_top(40)
        .margin_bottom(95.min(height / 4))
        .margin_right(10)
        .y_label_area_size(95)
        .build_cartesian_2d(0.0..1.0, low_axis..high_axis)
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(5)
        .y_label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .y_desc("output tokens/s per GPU")
        .y_label_formatter(&|value| round_half_even(*value))
        .draw()
        .map_err(drawing)?;
    let steps = 40;
    let step = (high_axis - low_axis) / f64::from(steps);
    chart
        .draw_series((0..steps).map(|index| {
            let from = low_axis + step * f64::from(index);
            Rectangle::new(
                [(0.0, from), (1.0, from + step)],
                colour(from + step / 2.0).filled(),
            )
        }))
        .map_err(drawing)?;
    Ok(())
}

/// A speculative-decoding chart's title.
pub fn spec_title(chart: &SpecChart) -> String {
    format!(
        "{}: speculative decoding x gpu-memory-utilization, output tokens/s per GPU",
        chart.model
    )
}

/// One model's speculative-decoding results: a horizontal bar per speculative config and
/// gpu-memory-utilization (grouped by config, shaded by gpu-memory-utilization), each with
/// its value and draft acceptance rate, and a line at the model's best without speculative
/// decoding.
pub fn spec_chart(spec: &SpecChart) -> anyhow::Result<Chart> {
    let title = spec_title(spec);
    let shades = spec.gpu_memory_percents.len().max(2);
    let shade = |index: usize| {
        #[expect(clippy::cast_precision_loss, reason = "a colour position")]
        let position = 0.15 + 0.6 * index as f32 / (shades - 1) as f32;
        ViridisRGB.get_color(position)
    };
    let bars: Vec<Bar> = spec
        .groups
        .iter()
        .flat_map(|group| {
            group
                .bars
                .iter()
                .enumerate()
                .filter_map(move |(index, bar)| {
                    let bar = bar.as_ref()?;
                    Some(Bar {
                        label: format!(
                            "{} @ gmu {}",
                            short(&group.spec),
                            spec.gpu_memory_percents[index]
                        ),
                        value: bar.output_tps_per_gpu,
                        text: bar_label(bar.output_tps_per_gpu, bar.acceptance_rate),
                        fill: shade(index),
                    })
                })
        })
        .collect();
    let alt = format!(
        "Bar chart of output tokens/s per GPU for {} per speculative config and \
         gpu-memory-utilization: {}{}.",
        spec.model,
        bars.iter()
            .map(|bar| format!("{} {}", bar.label, bar.text))
            .collect::<Vec<_>>()
            .join(", "),
        spec.without_spec.map_or_else(String::new, |best| format!(
            "; best without speculative decoding {}",
            round_half_even(best)
        ))
    );
    let mut legend: Vec<(Swatch, String)> = spec
        .gpu_memory_percents
        .iter()
        .enumerate()
        .map(|(index, gmu)| (Swatch::Fill(shade(index)), format!("gmu {gmu}")))
        .collect();
    if let Some(best) = spec.without_spec {
        legend.push((
            Swatch::Line,
            format!(
                "best without speculative decoding: {}",
                round_half_even(best)
            ),
        ));
    }
    let svg = horizontal_bars(&BarChart {
        caption: format!(
            "{}: speculative decoding x gpu-memory-utilization",
            short(&spec.model)
        ),
        x_desc: "output tokens/s per GPU",
        y_desc: "spec @ gmu (%)",
        x_format: &|tps| round_half_even(*tps),
        bars,
        line: spec.without_spec.map(|best| (best, 2)),
        legend,
    })?;
    Ok(Chart { title, svg, alt })
}

/// A speculative-decoding bar's label: its tokens/s per GPU and its acceptance rate.
pub fn bar_label(tps: f64, acceptance: Option<f64>) -> String {
    match acceptance {
        Some(rate) => format!("{} (acceptance {rate:.1}%)", round_half_even(tps)),
        None => round_half_even(tps),
    }
}
