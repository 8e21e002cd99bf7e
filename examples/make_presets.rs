//! Generates the shipped fixture pictures, reproducibly (same bytes on every run):
//! - `fixtures/presets/`: the operator's default avatar catalogue (issue #6 "Presets"), simple
//!   recognisable pictures drawn from shapes and gradients, in mixed formats;
//! - `fixtures/images/good/` and `fixtures/images/hostile/`: sample uploads for the image
//!   pipeline tests (`tests/images.rs`), including hand-built containers (an EXIF APP1 segment
//!   with orientation 6, PNG text/eXIf chunks, a PNG decompression bomb, a 1000-frame GIF).
//!
//! Run: `cargo run --example make_presets` (add `-- --sheet /tmp/sheet.png` for a contact
//! sheet of the presets).

use image::codecs::gif::GifEncoder;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ExtendedColorType, Frame, ImageFormat, Rgb, RgbImage, RgbaImage};
use std::f32::consts::PI;
use std::fs;
use std::io::Cursor;
use std::path::Path;

type Color = [u8; 3];

/// A region of the unit square (x right, y down, both 0..1).
enum Shape {
    Circle(f32, f32, f32),
    /// Centre, radii, rotation in radians.
    Ellipse(f32, f32, f32, f32, f32),
    Rect(f32, f32, f32, f32),
    Poly(Vec<(f32, f32)>),
    /// Centre, outer and inner radius, and only the part below `cy + cut` (for smiles).
    Arc(f32, f32, f32, f32, f32),
    /// A disc minus another disc (a crescent).
    Minus(Box<Shape>, Box<Shape>),
}

impl Shape {
    fn contains(&self, x: f32, y: f32) -> bool {
        match self {
            Shape::Circle(cx, cy, r) => (x - cx).powi(2) + (y - cy).powi(2) <= r * r,
            Shape::Ellipse(cx, cy, rx, ry, a) => {
                let (dx, dy) = (x - cx, y - cy);
                let (s, c) = a.sin_cos();
                let (u, v) = (dx * c + dy * s, -dx * s + dy * c);
                (u / rx).powi(2) + (v / ry).powi(2) <= 1.0
            }
            Shape::Rect(x0, y0, x1, y1) => x >= *x0 && x <= *x1 && y >= *y0 && y <= *y1,
            Shape::Poly(pts) => {
                let mut inside = false;
                let mut j = pts.len() - 1;
                for i in 0..pts.len() {
                    let ((xi, yi), (xj, yj)) = (pts[i], pts[j]);
                    if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
                        inside = !inside;
                    }
                    j = i;
                }
                inside
            }
            Shape::Arc(cx, cy, ro, ri, cut) => {
                let d2 = (x - cx).powi(2) + (y - cy).powi(2);
                d2 <= ro * ro && d2 >= ri * ri && y >= cy + cut
            }
            Shape::Minus(a, b) => a.contains(x, y) && !b.contains(x, y),
        }
    }
}

enum Paint {
    Solid(Color),
    /// Vertical gradient from the first colour at `y0` to the second at `y1`.
    VGrad(Color, Color, f32, f32),
}

impl Paint {
    fn at(&self, y: f32) -> Color {
        match self {
            Paint::Solid(c) => *c,
            Paint::VGrad(a, b, y0, y1) => lerp(*a, *b, ((y - y0) / (y1 - y0)).clamp(0.0, 1.0)),
        }
    }
}

fn lerp(a: Color, b: Color, t: f32) -> Color {
    let m = |i: usize| (f32::from(a[i]) + (f32::from(b[i]) - f32::from(a[i])) * t).round() as u8;
    [m(0), m(1), m(2)]
}

struct Scene {
    background: Paint,
    layers: Vec<(Shape, Paint)>,
}

impl Scene {
    fn new(background: Paint) -> Self {
        Scene {
            background,
            layers: Vec::new(),
        }
    }
    fn add(mut self, shape: Shape, paint: Paint) -> Self {
        self.layers.push((shape, paint));
        self
    }
    fn solid(self, shape: Shape, c: Color) -> Self {
        self.add(shape, Paint::Solid(c))
    }

    /// Rasterise with 3x3 supersampling (anti-aliased edges).
    fn render(&self, w: u32, h: u32) -> RgbImage {
        const N: u32 = 3;
        RgbImage::from_fn(w, h, |px, py| {
            let mut acc = [0u32; 3];
            for sy in 0..N {
                for sx in 0..N {
                    let x = (px as f32 + (sx as f32 + 0.5) / N as f32) / w as f32;
                    let y = (py as f32 + (sy as f32 + 0.5) / N as f32) / h as f32;
                    let c = self
                        .layers
                        .iter()
                        .rev()
                        .find(|(s, _)| s.contains(x, y))
                        .map_or_else(|| self.background.at(y), |(_, p)| p.at(y));
                    for i in 0..3 {
                        acc[i] += u32::from(c[i]);
                    }
                }
            }
            let n = N * N;
            Rgb([
                ((acc[0] + n / 2) / n) as u8,
                ((acc[1] + n / 2) / n) as u8,
                ((acc[2] + n / 2) / n) as u8,
            ])
        })
    }
}

fn tri(a: (f32, f32), b: (f32, f32), c: (f32, f32)) -> Shape {
    Shape::Poly(vec![a, b, c])
}

fn star(cx: f32, cy: f32, r: f32, points: usize) -> Shape {
    let pts = (0..points * 2)
        .map(|i| {
            let rr = if i % 2 == 0 { r } else { r * 0.45 };
            let a = -PI / 2.0 + i as f32 * PI / points as f32;
            (cx + rr * a.cos(), cy + rr * a.sin())
        })
        .collect();
    Shape::Poly(pts)
}

const BLACK: Color = [20, 20, 24];
const WHITE: Color = [250, 250, 250];

fn cat() -> Scene {
    let fur = [238, 140, 48];
    Scene::new(Paint::VGrad([120, 180, 240], [40, 90, 170], 0.0, 1.0))
        .solid(tri((0.20, 0.42), (0.26, 0.08), (0.46, 0.28)), fur)
        .solid(tri((0.80, 0.42), (0.74, 0.08), (0.54, 0.28)), fur)
        .solid(
            tri((0.25, 0.34), (0.28, 0.16), (0.40, 0.28)),
            [250, 180, 190],
        )
        .solid(
            tri((0.75, 0.34), (0.72, 0.16), (0.60, 0.28)),
            [250, 180, 190],
        )
        .solid(Shape::Ellipse(0.5, 0.56, 0.33, 0.30, 0.0), fur)
        .solid(Shape::Ellipse(0.38, 0.50, 0.07, 0.05, 0.0), [120, 200, 80])
        .solid(Shape::Ellipse(0.62, 0.50, 0.07, 0.05, 0.0), [120, 200, 80])
        .solid(Shape::Ellipse(0.38, 0.50, 0.02, 0.05, 0.0), BLACK)
        .solid(Shape::Ellipse(0.62, 0.50, 0.02, 0.05, 0.0), BLACK)
        .solid(
            tri((0.46, 0.62), (0.54, 0.62), (0.50, 0.67)),
            [230, 110, 140],
        )
        .solid(Shape::Rect(0.08, 0.66, 0.36, 0.675), BLACK)
        .solid(Shape::Rect(0.64, 0.66, 0.92, 0.675), BLACK)
}

fn dog() -> Scene {
    let fur = [150, 100, 60];
    Scene::new(Paint::VGrad([250, 230, 160], [240, 190, 90], 0.0, 1.0))
        .solid(Shape::Ellipse(0.5, 0.52, 0.30, 0.33, 0.0), fur)
        .solid(Shape::Ellipse(0.22, 0.50, 0.09, 0.22, 0.25), [90, 55, 30])
        .solid(Shape::Ellipse(0.78, 0.50, 0.09, 0.22, -0.25), [90, 55, 30])
        .solid(Shape::Ellipse(0.5, 0.68, 0.16, 0.13, 0.0), [225, 200, 170])
        .solid(Shape::Circle(0.40, 0.44, 0.045), BLACK)
        .solid(Shape::Circle(0.60, 0.44, 0.045), BLACK)
        .solid(Shape::Ellipse(0.5, 0.61, 0.06, 0.04, 0.0), BLACK)
        .solid(Shape::Ellipse(0.5, 0.77, 0.045, 0.06, 0.0), [230, 90, 110])
}

fn owl() -> Scene {
    Scene::new(Paint::VGrad([30, 40, 90], [70, 60, 130], 0.0, 1.0))
        .solid(Shape::Rect(0.0, 0.86, 1.0, 0.92), [100, 70, 40])
        .solid(Shape::Ellipse(0.5, 0.55, 0.30, 0.36, 0.0), [140, 100, 70])
        .solid(Shape::Ellipse(0.5, 0.66, 0.18, 0.22, 0.0), [210, 180, 140])
        .solid(
            tri((0.22, 0.28), (0.26, 0.10), (0.38, 0.24)),
            [140, 100, 70],
        )
        .solid(
            tri((0.78, 0.28), (0.74, 0.10), (0.62, 0.24)),
            [140, 100, 70],
        )
        .solid(Shape::Circle(0.38, 0.40, 0.11), WHITE)
        .solid(Shape::Circle(0.62, 0.40, 0.11), WHITE)
        .solid(Shape::Circle(0.38, 0.40, 0.06), [250, 200, 40])
        .solid(Shape::Circle(0.62, 0.40, 0.06), [250, 200, 40])
        .solid(Shape::Circle(0.38, 0.40, 0.03), BLACK)
        .solid(Shape::Circle(0.62, 0.40, 0.03), BLACK)
        .solid(
            tri((0.46, 0.50), (0.54, 0.50), (0.50, 0.60)),
            [240, 160, 30],
        )
}

fn fish() -> Scene {
    let mut s = Scene::new(Paint::VGrad([60, 190, 230], [10, 60, 130], 0.0, 1.0))
        .solid(
            tri((0.70, 0.50), (0.92, 0.30), (0.92, 0.70)),
            [250, 120, 30],
        )
        .solid(Shape::Ellipse(0.45, 0.50, 0.30, 0.18, 0.0), [250, 150, 40])
        .solid(Shape::Rect(0.40, 0.33, 0.46, 0.67), WHITE)
        .solid(Shape::Circle(0.27, 0.46, 0.04), WHITE)
        .solid(Shape::Circle(0.27, 0.46, 0.02), BLACK);
    for (x, y, r) in [(0.20, 0.20, 0.03), (0.28, 0.12, 0.02), (0.16, 0.08, 0.015)] {
        s = s.add(
            Shape::Minus(
                Box::new(Shape::Circle(x, y, r)),
                Box::new(Shape::Circle(x, y, r * 0.6)),
            ),
            Paint::Solid([220, 245, 255]),
        );
    }
    s.solid(Shape::Rect(0.0, 0.9, 1.0, 1.0), [230, 210, 150])
}

fn flower() -> Scene {
    let mut s = Scene::new(Paint::VGrad([200, 230, 255], [150, 210, 150], 0.0, 1.0))
        .solid(Shape::Rect(0.48, 0.45, 0.52, 1.0), [60, 140, 50])
        .solid(Shape::Ellipse(0.62, 0.78, 0.12, 0.05, -0.5), [70, 160, 60]);
    for i in 0..8 {
        let a = i as f32 * PI / 4.0;
        s = s.solid(
            Shape::Ellipse(0.5 + 0.17 * a.cos(), 0.40 + 0.17 * a.sin(), 0.12, 0.07, a),
            [230, 70, 150],
        );
    }
    s.solid(Shape::Circle(0.5, 0.40, 0.10), [250, 210, 40])
}

fn sun() -> Scene {
    let mut s = Scene::new(Paint::VGrad([255, 170, 80], [255, 230, 150], 0.0, 0.65)).add(
        Shape::Rect(0.0, 0.65, 1.0, 1.0),
        Paint::VGrad([40, 110, 190], [20, 50, 110], 0.65, 1.0),
    );
    for i in 0..12 {
        let a = i as f32 * PI / 6.0;
        let (c, d) = (a.cos(), a.sin());
        let (pc, pd) = ((a + 0.12).cos(), (a + 0.12).sin());
        let (mc, md) = ((a - 0.12).cos(), (a - 0.12).sin());
        s = s.solid(
            tri(
                (0.5 + 0.38 * c, 0.42 + 0.38 * d),
                (0.5 + 0.22 * pc, 0.42 + 0.22 * pd),
                (0.5 + 0.22 * mc, 0.42 + 0.22 * md),
            ),
            [250, 200, 30],
        );
    }
    s.solid(Shape::Circle(0.5, 0.42, 0.2), [255, 220, 50])
        .solid(Shape::Rect(0.0, 0.65, 1.0, 1.0), [30, 90, 170])
        .solid(Shape::Rect(0.3, 0.72, 0.7, 0.74), [250, 210, 120])
        .solid(Shape::Rect(0.38, 0.80, 0.62, 0.82), [250, 210, 120])
}

fn mountains() -> Scene {
    Scene::new(Paint::VGrad([110, 170, 240], [220, 235, 250], 0.0, 0.7))
        .solid(tri((0.0, 0.85), (0.35, 0.25), (0.72, 0.85)), [90, 100, 120])
        .solid(tri((0.35, 0.85), (0.70, 0.35), (1.05, 0.85)), [70, 80, 100])
        .solid(tri((0.272, 0.39), (0.35, 0.25), (0.428, 0.39)), WHITE)
        .solid(tri((0.64, 0.45), (0.70, 0.35), (0.76, 0.45)), WHITE)
        .solid(Shape::Rect(0.0, 0.80, 1.0, 1.0), [80, 160, 70])
        .solid(Shape::Circle(0.82, 0.16, 0.07), [255, 240, 180])
}

fn tree() -> Scene {
    Scene::new(Paint::VGrad([170, 220, 250], [230, 245, 255], 0.0, 0.8))
        .solid(Shape::Rect(0.0, 0.82, 1.0, 1.0), [100, 170, 60])
        .solid(Shape::Rect(0.45, 0.50, 0.55, 0.86), [110, 70, 40])
        .solid(Shape::Circle(0.5, 0.32, 0.20), [40, 130, 50])
        .solid(Shape::Circle(0.34, 0.45, 0.15), [50, 145, 55])
        .solid(Shape::Circle(0.66, 0.45, 0.15), [50, 145, 55])
        .solid(Shape::Circle(0.40, 0.30, 0.03), [220, 40, 40])
        .solid(Shape::Circle(0.60, 0.40, 0.03), [220, 40, 40])
        .solid(Shape::Circle(0.45, 0.50, 0.03), [220, 40, 40])
}

fn house() -> Scene {
    Scene::new(Paint::VGrad([130, 190, 250], [210, 235, 255], 0.0, 0.8))
        .solid(Shape::Rect(0.0, 0.80, 1.0, 1.0), [90, 170, 80])
        .solid(Shape::Rect(0.22, 0.45, 0.78, 0.84), [240, 220, 180])
        .solid(tri((0.14, 0.47), (0.5, 0.16), (0.86, 0.47)), [190, 50, 40])
        .solid(Shape::Rect(0.44, 0.62, 0.56, 0.84), [120, 70, 40])
        .solid(Shape::Rect(0.28, 0.52, 0.40, 0.64), [120, 190, 240])
        .solid(Shape::Rect(0.60, 0.52, 0.72, 0.64), [120, 190, 240])
        .solid(Shape::Circle(0.86, 0.14, 0.07), [255, 220, 60])
}

fn car() -> Scene {
    Scene::new(Paint::VGrad([200, 230, 250], [240, 240, 240], 0.0, 0.7))
        .solid(Shape::Rect(0.0, 0.74, 1.0, 1.0), [70, 70, 75])
        .solid(Shape::Rect(0.1, 0.86, 0.3, 0.88), WHITE)
        .solid(Shape::Rect(0.6, 0.86, 0.8, 0.88), WHITE)
        .solid(
            Shape::Poly(vec![(0.30, 0.50), (0.38, 0.34), (0.64, 0.34), (0.74, 0.50)]),
            [200, 30, 40],
        )
        .solid(
            Shape::Poly(vec![(0.36, 0.49), (0.41, 0.38), (0.50, 0.38), (0.50, 0.49)]),
            [170, 220, 250],
        )
        .solid(
            Shape::Poly(vec![(0.53, 0.49), (0.53, 0.38), (0.62, 0.38), (0.68, 0.49)]),
            [170, 220, 250],
        )
        .solid(Shape::Rect(0.12, 0.50, 0.88, 0.68), [220, 40, 50])
        .solid(Shape::Circle(0.30, 0.69, 0.08), BLACK)
        .solid(Shape::Circle(0.70, 0.69, 0.08), BLACK)
        .solid(Shape::Circle(0.30, 0.69, 0.035), [190, 190, 200])
        .solid(Shape::Circle(0.70, 0.69, 0.035), [190, 190, 200])
        .solid(Shape::Rect(0.84, 0.54, 0.88, 0.58), [255, 230, 120])
}

fn robot() -> Scene {
    let mut s = Scene::new(Paint::VGrad([60, 60, 80], [20, 20, 30], 0.0, 1.0))
        .solid(Shape::Rect(0.49, 0.10, 0.51, 0.22), [180, 180, 190])
        .solid(Shape::Circle(0.5, 0.10, 0.035), [240, 60, 60])
        .solid(Shape::Rect(0.22, 0.22, 0.78, 0.74), [170, 180, 195])
        .solid(Shape::Rect(0.14, 0.38, 0.22, 0.56), [130, 140, 155])
        .solid(Shape::Rect(0.78, 0.38, 0.86, 0.56), [130, 140, 155])
        .solid(Shape::Circle(0.37, 0.40, 0.08), [40, 220, 250])
        .solid(Shape::Circle(0.63, 0.40, 0.08), [40, 220, 250])
        .solid(Shape::Circle(0.37, 0.40, 0.03), BLACK)
        .solid(Shape::Circle(0.63, 0.40, 0.03), BLACK)
        .solid(Shape::Rect(0.32, 0.56, 0.68, 0.66), [60, 60, 70]);
    for i in 0..4 {
        let x = 0.34 + i as f32 * 0.09;
        s = s.solid(Shape::Rect(x, 0.575, x + 0.06, 0.645), WHITE);
    }
    s.solid(Shape::Rect(0.3, 0.74, 0.7, 1.0), [150, 160, 175])
}

fn smile() -> Scene {
    Scene::new(Paint::VGrad([250, 120, 170], [200, 60, 140], 0.0, 1.0))
        .solid(Shape::Circle(0.5, 0.5, 0.40), [255, 215, 40])
        .solid(Shape::Ellipse(0.37, 0.38, 0.045, 0.08, 0.0), BLACK)
        .solid(Shape::Ellipse(0.63, 0.38, 0.045, 0.08, 0.0), BLACK)
        .solid(Shape::Arc(0.5, 0.52, 0.25, 0.20, 0.02), BLACK)
        .solid(Shape::Circle(0.26, 0.58, 0.05), [250, 150, 100])
        .solid(Shape::Circle(0.74, 0.58, 0.05), [250, 150, 100])
}

fn moon() -> Scene {
    let mut s = Scene::new(Paint::VGrad([10, 15, 50], [40, 50, 110], 0.0, 1.0));
    for (x, y, r) in [
        (0.2, 0.2, 0.05),
        (0.8, 0.3, 0.04),
        (0.7, 0.8, 0.06),
        (0.15, 0.75, 0.03),
    ] {
        s = s.solid(star(x, y, r, 5), [255, 250, 200]);
    }
    s.solid(
        Shape::Minus(
            Box::new(Shape::Circle(0.5, 0.5, 0.28)),
            Box::new(Shape::Circle(0.62, 0.42, 0.24)),
        ),
        [250, 240, 170],
    )
}

fn heart() -> Scene {
    Scene::new(Paint::VGrad([255, 235, 240], [250, 200, 215], 0.0, 1.0))
        .solid(Shape::Circle(0.35, 0.38, 0.17), [220, 30, 60])
        .solid(Shape::Circle(0.65, 0.38, 0.17), [220, 30, 60])
        .solid(
            Shape::Poly(vec![(0.19, 0.44), (0.81, 0.44), (0.5, 0.82)]),
            [220, 30, 60],
        )
        .solid(
            Shape::Ellipse(0.30, 0.32, 0.05, 0.03, -0.7),
            [250, 150, 170],
        )
}

fn encode(img: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let (w, h) = img.dimensions();
    let mut out = Vec::new();
    match format {
        ImageFormat::Jpeg => JpegEncoder::new_with_quality(&mut out, 88)
            .encode(img.as_raw(), w, h, ExtendedColorType::Rgb8)
            .expect("jpeg"),
        ImageFormat::Gif => GifEncoder::new_with_speed(&mut out, 10)
            .encode(img.as_raw(), w, h, ExtendedColorType::Rgb8)
            .expect("gif"),
        ImageFormat::WebP => WebPEncoder::new_lossless(&mut out)
            .encode(img.as_raw(), w, h, ExtendedColorType::Rgb8)
            .expect("webp"),
        other => {
            let mut c = Cursor::new(Vec::new());
            DynamicImage::ImageRgb8(img.clone())
                .write_to(&mut c, other)
                .expect("encode");
            out = c.into_inner();
        }
    }
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::write(dir.join(name), bytes).expect("write fixture");
    println!("{:>8}  {}/{}", bytes.len(), dir.display(), name);
}

/// The preset catalogue: file name, scene, size, format.
fn presets() -> Vec<(&'static str, Scene, u32, ImageFormat)> {
    vec![
        ("01-cat.png", cat(), 200, ImageFormat::Png),
        ("02-dog.jpg", dog(), 192, ImageFormat::Jpeg),
        ("03-owl.png", owl(), 176, ImageFormat::Png),
        ("04-fish.gif", fish(), 200, ImageFormat::Gif),
        ("05-flower.png", flower(), 256, ImageFormat::Png),
        ("06-sunset.jpg", sun(), 200, ImageFormat::Jpeg),
        ("07-mountains.webp", mountains(), 200, ImageFormat::WebP),
        ("08-tree.png", tree(), 176, ImageFormat::Png),
        ("09-house.bmp", house(), 128, ImageFormat::Bmp),
        ("10-car.gif", car(), 176, ImageFormat::Gif),
        ("11-robot.png", robot(), 200, ImageFormat::Png),
        ("12-smile.png", smile(), 176, ImageFormat::Png),
        ("13-moon.jpg", moon(), 200, ImageFormat::Jpeg),
        ("14-heart.gif", heart(), 176, ImageFormat::Gif),
    ]
}

// ---- Hand-built containers -------------------------------------------------------------

/// CRC-32 (ISO 3309 / ITU-T V.42, as PNG §5.5 requires), bitwise.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG chunk: length, type, data, CRC over type + data.
fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    c.extend_from_slice(kind);
    c.extend_from_slice(data);
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    c.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    c
}

/// Insert chunks right after IHDR (signature 8 bytes + IHDR 25 bytes).
fn png_insert_after_ihdr(png: &[u8], chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = png[..33].to_vec();
    for c in chunks {
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&png[33..]);
    out
}

/// A big-endian TIFF/EXIF block (CIPA DC-008 / TIFF 6.0 §2) with IFD0 holding an ASCII
/// ImageDescription (0x010E) and, optionally, Orientation (0x0112, SHORT).
fn exif_tiff(description: &str, orientation: Option<u16>) -> Vec<u8> {
    let mut desc = description.as_bytes().to_vec();
    desc.push(0);
    let entries = 1 + u16::from(orientation.is_some());
    let ifd_len = 2 + 12 * usize::from(entries) + 4;
    let data_offset = (8 + ifd_len) as u32;
    let mut t = b"MM\x00\x2A\x00\x00\x00\x08".to_vec();
    t.extend_from_slice(&entries.to_be_bytes());
    // 0x010E ImageDescription, ASCII (2), count, offset to the string.
    t.extend_from_slice(&[0x01, 0x0E, 0x00, 0x02]);
    t.extend_from_slice(&(desc.len() as u32).to_be_bytes());
    t.extend_from_slice(&data_offset.to_be_bytes());
    if let Some(o) = orientation {
        // 0x0112 Orientation, SHORT (3), count 1, value left-justified in the 4-byte field.
        t.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01]);
        t.extend_from_slice(&o.to_be_bytes());
        t.extend_from_slice(&[0, 0]);
    }
    t.extend_from_slice(&[0, 0, 0, 0]); // no next IFD
    t.extend_from_slice(&desc);
    t
}

/// Insert JPEG segments after SOI and the JFIF APP0 segment (if any).
fn jpeg_insert_segments(jpeg: &[u8], segments: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut at = 2;
    if jpeg[2..4] == [0xFF, 0xE0] {
        at = 4 + usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]]));
    }
    let mut out = jpeg[..at].to_vec();
    for (marker, payload) in segments {
        out.extend_from_slice(&[0xFF, *marker]);
        out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(payload);
    }
    out.extend_from_slice(&jpeg[at..]);
    out
}

/// Stored pixels 240x160 in quadrants: red | green over blue | yellow. EXIF orientation 6
/// says "rotate 90 degrees clockwise to display", so the upright picture is 160x240 with
/// blue | red over yellow | green.
fn exif_orientation_6() -> Vec<u8> {
    let img = RgbImage::from_fn(240, 160, |x, y| {
        Rgb(match (x < 120, y < 80) {
            (true, true) => [230, 20, 20],
            (false, true) => [20, 200, 20],
            (true, false) => [20, 20, 230],
            (false, false) => [240, 220, 20],
        })
    });
    let jpeg = encode(&img, ImageFormat::Jpeg);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&exif_tiff("SECRET-EXIF-MARKER", Some(6)));
    jpeg_insert_segments(
        &jpeg,
        &[(0xE1, app1), (0xFE, b"SECRET-COMMENT-MARKER".to_vec())],
    )
}

/// 320x180: red bands 70 px wide at both sides, the centre 180x180 green over blue; plus tEXt
/// and eXIf chunks that must not survive.
fn landscape_png() -> Vec<u8> {
    let img = RgbImage::from_fn(320, 180, |x, y| {
        Rgb(if !(70..250).contains(&x) {
            [220, 30, 30]
        } else if y < 90 {
            [30, 180, 60]
        } else {
            [40, 60, 200]
        })
    });
    let png = encode(&img, ImageFormat::Png);
    png_insert_after_ihdr(
        &png,
        &[
            png_chunk(b"tEXt", b"Comment\0SECRET-PNG-TEXT-MARKER"),
            png_chunk(b"eXIf", &exif_tiff("SECRET-PNG-EXIF-MARKER", None)),
        ],
    )
}

/// Three 120x120 frames: magenta, cyan, yellow (only the first is used).
fn animated_gif() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = GifEncoder::new_with_speed(&mut out, 10);
        for c in [
            [220u8, 40, 200, 255],
            [40, 220, 220, 255],
            [240, 230, 40, 255],
        ] {
            let frame = RgbaImage::from_pixel(120, 120, image::Rgba(c));
            enc.encode_frame(Frame::new(frame)).expect("gif frame");
        }
    }
    out
}

/// 200x150 lossless WebP: a dark frame around a light-blue centre with an orange disc.
fn photo_webp() -> Vec<u8> {
    let scene = Scene::new(Paint::Solid([40, 40, 40]))
        .solid(Shape::Rect(0.1, 0.1, 0.9, 0.9), [150, 200, 240])
        .solid(Shape::Circle(0.5, 0.5, 0.2), [250, 140, 30]);
    encode(&scene.render(200, 150), ImageFormat::WebP)
}

/// A PNG whose IHDR declares 100000x100000 RGB (30 GB decoded) but carries one tiny IDAT.
fn png_bomb() -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, adaptive, no interlace
                                              // zlib stream: header, one final stored block with 4 zero bytes (filter 0 + one pixel),
                                              // Adler-32 of those bytes.
    let mut idat = vec![0x78, 0x01, 0x01, 0x04, 0x00, 0xFB, 0xFF, 0, 0, 0, 0];
    idat.extend_from_slice(&0x0004_0001u32.to_be_bytes());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&png_chunk(b"IHDR", &ihdr));
    png.extend_from_slice(&png_chunk(b"IDAT", &idat));
    png.extend_from_slice(&png_chunk(b"IEND", b""));
    png
}

/// A 1x1 GIF with a 2-colour global table and 1000 one-pixel frames (about 23 KB).
fn gif_1000_frames() -> Vec<u8> {
    let mut g = b"GIF89a\x01\x00\x01\x00\x80\x00\x00".to_vec();
    g.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
    // NETSCAPE2.0 loop forever.
    g.extend_from_slice(b"\x21\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00\x00");
    for i in 0..1000u32 {
        g.extend_from_slice(&[0x21, 0xF9, 0x04, 0x00, 0x02, 0x00, 0x00, 0x00]);
        g.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0x00]);
        // LZW minimum code size 2; codes clear(4), index (i % 2), end(5) in 3-bit codes.
        let data = if i % 2 == 0 {
            [0x44, 0x01]
        } else {
            [0x4C, 0x01]
        };
        g.extend_from_slice(&[0x02, 0x02, data[0], data[1], 0x00]);
    }
    g.push(0x3B);
    g
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let presets_dir = root.join("presets");
    let good = root.join("images/good");
    let hostile = root.join("images/hostile");
    for d in [&presets_dir, &good, &hostile] {
        fs::create_dir_all(d).expect("create fixture dir");
    }

    let mut sheet = RgbImage::new(7 * 128, 2 * 128);
    for (i, (name, scene, size, format)) in presets().into_iter().enumerate() {
        let img = scene.render(size, size);
        write(&presets_dir, name, &encode(&img, format));
        let thumb = image::imageops::thumbnail(&img, 128, 128);
        let (x, y) = ((i as i64 % 7) * 128, (i as i64 / 7) * 128);
        image::imageops::overlay(&mut sheet, &thumb, x, y);
    }
    // `--sheet FILE.png`: also write a contact sheet of the presets, to eyeball them.
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--sheet") {
        if let Some(path) = args.get(i + 1) {
            sheet.save(path).expect("write contact sheet");
        }
    }

    write(&good, "exif-orientation-6.jpg", &exif_orientation_6());
    write(&good, "landscape-with-text-chunks.png", &landscape_png());
    write(&good, "animated-3-frames.gif", &animated_gif());
    write(&good, "photo-lossless.webp", &photo_webp());

    write(&hostile, "bomb-100000x100000.png", &png_bomb());
    let jpeg = encode(&dog().render(200, 200), ImageFormat::Jpeg);
    write(&hostile, "truncated.jpg", &jpeg[..jpeg.len() * 6 / 10]);
    write(
        &hostile,
        "text-renamed.jpg",
        b"This is a shopping list, not a photo.\nmilk\neggs\nrice\n",
    );
    write(
        &hostile,
        "drawing.svg",
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
          <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100\" height=\"100\">\n\
          <circle cx=\"50\" cy=\"50\" r=\"40\" fill=\"orange\"/>\n</svg>\n",
    );
    write(
        &hostile,
        "too-big-200k.bmp",
        &encode(&mountains().render(260, 260), ImageFormat::Bmp),
    );
    write(&hostile, "empty.jpg", b"");
    write(&hostile, "gif-1000-frames.gif", &gif_1000_frames());
}
