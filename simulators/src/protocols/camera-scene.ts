/**
 * Classroom scenes for the simulated cameras: a 1920x1080 JPEG of a classroom seen from a
 * camera high in a front corner, with a given number of people in it whose faces are
 * pasted from real photographs (the `tracking` package ships faces.jpg for face-detection
 * demos). The gateway's face counter is tested and demonstrated against these frames, so
 * the faces must be real faces at the sizes a classroom camera really sees: about 60 px
 * across in the front rows, down to about 20 px at the back.
 *
 * The room is laid out in metres and projected through a pinhole camera, so sizes,
 * perspective and occlusion order come from the geometry rather than from hand-placed
 * boxes. Each person gets one of the photographed faces (maybe mirrored) with a little
 * variation in scale, brightness and position. Everything is seeded: the same (seed,
 * count) gives the same bytes, and with one seed people keep their seats as the count
 * changes (the first N of one seeded seating order are filled).
 *
 * Speed: the empty room and the resized face sprites are made once per process and
 * cached; a frame is one copy of the room, a few dozen small alpha blends in JS, and one
 * JPEG encode. Frames never touch disk.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';
import { between, chance, deriveRng, mulberry32, pick, shuffled, type Rng } from '../district/random.ts';

export const SCENE_WIDTH = 1920;
export const SCENE_HEIGHT = 1080;

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

// ---------------------------------------------------------------------------------------
// The photographed faces
// ---------------------------------------------------------------------------------------

/**
 * Where the faces are in tracking/examples/assets/faces.jpg (600x346, three people), in
 * that photo's pixels, read off a 4x enlargement with a 10 px grid. `face` is cheek to
 * cheek and brow to chin (what a face detector boxes), `head` an ellipse around face and
 * hair that becomes the sprite's outline, `neck` the strip below the chin kept so the
 * head joins the drawn shoulders.
 */
interface FaceCrop {
  face: Rect;
  head: { cx: number; cy: number; rx: number; ry: number };
  neck: Rect;
}

export const FACE_PHOTO = 'tracking/examples/assets/faces.jpg';

export const FACE_CROPS: readonly FaceCrop[] = [
  // left: long hair, glasses, beard
  { face: { x: 52, y: 105, w: 80, h: 92 }, head: { cx: 92, cy: 132, rx: 60, ry: 76 }, neck: { x: 68, y: 190, w: 48, h: 30 } },
  // middle: curly hair
  { face: { x: 227, y: 152, w: 98, h: 94 }, head: { cx: 274, cy: 166, rx: 60, ry: 86 }, neck: { x: 246, y: 236, w: 54, h: 30 } },
  // right: short hair, ears
  { face: { x: 457, y: 76, w: 90, h: 92 }, head: { cx: 505, cy: 96, rx: 62, ry: 78 }, neck: { x: 478, y: 160, w: 54, h: 32 } },
];

// ---------------------------------------------------------------------------------------
// Camera and room geometry (metres; x across the room, y up, z from the front wall)
// ---------------------------------------------------------------------------------------

type Vec3 = readonly [number, number, number];

const ROOM = { width: 7.5, depth: 8.4, height: 3.3 };
/** Front-left corner, just under the ceiling, looking down the room towards the back. */
const CAMERA_AT: Vec3 = [0.25, 2.85, 0.2];
const CAMERA_LOOKS_AT: Vec3 = [4.4, 0.6, 6.2];
/** Focal length in pixels: about a 2.8 mm lens on a 1/3" sensor at 1080p (~100 degrees across). */
const FOCAL_PX = 1150;
/** A face's width as a detector boxes it, in metres. */
const FACE_WIDTH_M = 0.165;
const SHOULDER_WIDTH_M = 0.4;
const DESK = { width: 1.2, depth: 0.45, height: 0.72 };
const DESK_CENTRES_X = [1.2, 2.9, 4.6, 6.3];
const ROW_FRONT_Z = [1.9, 2.85, 3.8, 4.75, 5.7, 6.65];
const SEATED_FACE_Y = 1.1;
const STANDING_FACE_Y = 1.58;

const sub = (a: Vec3, b: Vec3): Vec3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const dot = (a: Vec3, b: Vec3) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a: Vec3, b: Vec3): Vec3 => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const unit = (a: Vec3): Vec3 => {
  const n = Math.hypot(a[0], a[1], a[2]);
  return [a[0] / n, a[1] / n, a[2] / n];
};

const FORWARD = unit(sub(CAMERA_LOOKS_AT, CAMERA_AT));
const RIGHT = unit(cross([0, 1, 0], FORWARD));
const UP = cross(FORWARD, RIGHT);
/** Points closer than this along the view axis are clipped away. */
const NEAR_M = 0.15;

interface Projected {
  u: number;
  v: number;
  depth: number;
}

function project(p: Vec3): Projected {
  const d = sub(p, CAMERA_AT);
  const depth = dot(d, FORWARD);
  return { u: SCENE_WIDTH / 2 + (FOCAL_PX * dot(d, RIGHT)) / depth, v: SCENE_HEIGHT / 2 - (FOCAL_PX * dot(d, UP)) / depth, depth };
}

/** Clip a planar polygon to the part in front of the camera (Sutherland-Hodgman on one plane). */
function clipToView(points: readonly Vec3[]): Vec3[] {
  const depth = (p: Vec3) => dot(sub(p, CAMERA_AT), FORWARD) - NEAR_M;
  const out: Vec3[] = [];
  for (let i = 0; i < points.length; i++) {
    const a = points[i]!;
    const b = points[(i + 1) % points.length]!;
    const da = depth(a);
    const db = depth(b);
    if (da >= 0) out.push(a);
    if (da >= 0 !== db >= 0) {
      const t = da / (da - db);
      out.push([a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Where people can be
// ---------------------------------------------------------------------------------------

interface Spot {
  /** Centre of the face. */
  face: Vec3;
  /** For a seated pupil: the far edge of their desk top, where the desk hides the body (below their face). */
  deskEdge?: Vec3;
}

/** 48 seats (six rows of four two-seat desks), the teacher walking at the back, four more places standing at the back. */
function layoutSpots(): { teacher: Spot; seats: Spot[]; standing: Spot[] } {
  const seats: Spot[] = [];
  for (const z of ROW_FRONT_Z) {
    for (const cx of DESK_CENTRES_X) {
      for (const dx of [-0.3, 0.3]) {
        const x = cx + dx;
        seats.push({ face: [x, SEATED_FACE_Y, z + DESK.depth + 0.28], deskEdge: [x, DESK.height, z + DESK.depth] });
      }
    }
  }
  const aisleX = (DESK_CENTRES_X[1]! + DESK_CENTRES_X[2]!) / 2;
  const teacher: Spot = { face: [aisleX, STANDING_FACE_Y, 8.0] };
  const standing = [1.3, 2.6, 5.3, 6.6].map((x): Spot => ({ face: [x, STANDING_FACE_Y, 8.0] }));
  leanToSee([teacher, ...seats, ...standing]);
  return { teacher, seats, standing };
}

/**
 * Where a head lines up with a nearer one along the camera's view, move that person along
 * their bench (or the back wall) a little, as pupils lean to see past the one in front, so
 * no face is hidden whoever else is in the room. Nearest first, so nearer people stay put.
 */
function leanToSee(spots: Spot[]): void {
  const placed: FaceFootprint[] = [];
  const byDistance = [...spots].sort((a, b) => project(a.face).depth - project(b.face).depth);
  for (const spot of byDistance) {
    let best = { dx: 0, clash: Infinity };
    for (const dx of [0, 0.05, -0.05, 0.1, -0.1, 0.15, -0.15, 0.2, -0.2, 0.25, -0.25]) {
      const here = footprint([spot.face[0] + dx, spot.face[1], spot.face[2]]);
      const clash = placed.reduce((sum, near) => sum + hiddenBy(here, near), 0);
      if (clash < best.clash) best = { dx, clash };
      if (clash === 0) break;
    }
    spot.face = [spot.face[0] + best.dx, spot.face[1], spot.face[2]];
    if (spot.deskEdge) spot.deskEdge = [spot.deskEdge[0] + best.dx, spot.deskEdge[1], spot.deskEdge[2]];
    placed.push(footprint(spot.face));
  }
}

/** A face's centre and width in the frame. */
interface FaceFootprint {
  u: number;
  v: number;
  w: number;
}

function footprint(face: Vec3): FaceFootprint {
  const p = project(face);
  return { u: p.u, v: p.v, w: (FOCAL_PX * FACE_WIDTH_M) / p.depth };
}

/**
 * How much of a face box (grown by the scale and position jitter people get) a nearer
 * person's head (hair up to 1.3 face widths above the face centre, 0.85 either side) or
 * shoulders (from 0.6 below, 1.3 either side) would cover, in px².
 */
function hiddenBy(far: FaceFootprint, near: FaceFootprint): number {
  const grow = 0.6;
  const box = [far.u - far.w * grow, far.v - far.w * grow, far.u + far.w * grow, far.v + far.w * grow] as const;
  const head = [near.u - near.w * 0.85, near.v - near.w * 1.3, near.u + near.w * 0.85, near.v + near.w * 0.6] as const;
  const body = [near.u - near.w * 1.3, near.v + near.w * 0.6, near.u + near.w * 1.3, SCENE_HEIGHT] as const;
  const overlap = (a: readonly number[], b: readonly number[]) =>
    Math.max(0, Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!)) * Math.max(0, Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!));
  return overlap(box, head) + overlap(box, body);
}

const SPOTS = layoutSpots();
/** Most people one frame can show (48 seats, a teacher, four standing at the back). */
export const SCENE_CAPACITY = 1 + SPOTS.seats.length + SPOTS.standing.length;

// ---------------------------------------------------------------------------------------
// The empty room, drawn once
// ---------------------------------------------------------------------------------------

function polygon(points: readonly Vec3[], fill: string, extra = ''): string {
  const clipped = clipToView(points);
  if (clipped.length < 3) return '';
  const pts = clipped.map((p) => project(p)).map((p) => `${p.u.toFixed(1)},${p.v.toFixed(1)}`);
  return `<polygon points="${pts.join(' ')}" fill="${fill}" ${extra}/>`;
}

function line(a: Vec3, b: Vec3, stroke: string, width: number): string {
  const clipped = clipToView([a, b, b]);
  if (clipped.length < 2) return '';
  const [p, q] = [project(clipped[0]!), project(clipped[clipped.length - 1]!)];
  return `<line x1="${p.u.toFixed(1)}" y1="${p.v.toFixed(1)}" x2="${q.u.toFixed(1)}" y2="${q.v.toFixed(1)}" stroke="${stroke}" stroke-width="${width}"/>`;
}

/** An axis-aligned box as its faces the camera can see (top, front towards z=0, left towards x=0). */
function box(x0: number, x1: number, y0: number, y1: number, z0: number, z1: number, top: string, front: string, side: string): string {
  return [
    polygon([[x0, y0, z0], [x0, y0, z1], [x0, y1, z1], [x0, y1, z0]], side),
    polygon([[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0]], front),
    polygon([[x0, y1, z0], [x1, y1, z0], [x1, y1, z1], [x0, y1, z1]], top),
  ].join('');
}

function roomSvg(): string {
  const { width: W, depth: D, height: H } = ROOM;
  const parts: string[] = [];
  parts.push(`<rect width="${SCENE_WIDTH}" height="${SCENE_HEIGHT}" fill="#d9cf9f"/>`);
  // Ceiling, walls (pale yellow, as many Vietnamese classrooms), tiled floor.
  parts.push(polygon([[0, H, 0], [W, H, 0], [W, H, D], [0, H, D]], '#ecebe4'));
  parts.push(polygon([[0, 0, D], [W, 0, D], [W, H, D], [0, H, D]], '#e6d9a2'));
  parts.push(polygon([[W, 0, 0], [W, 0, D], [W, H, D], [W, H, 0]], '#dccd92'));
  parts.push(polygon([[0, 0, 0], [0, 0, D], [0, H, D], [0, H, 0]], '#d3c487'));
  parts.push(polygon([[0, 0, 0], [W, 0, 0], [W, 0, D], [0, 0, D]], '#c9c1b2'));
  for (let x = 0.6; x < W; x += 0.6) parts.push(line([x, 0, 0.3], [x, 0, D], '#a9a192', 2));
  for (let z = 0.6; z < D; z += 0.6) parts.push(line([0, 0, z], [W, 0, z], '#a9a192', 2));
  // Skirting, green windows with bars on the right wall, ceiling lights.
  parts.push(polygon([[0, 0, D - 0.001], [W, 0, D - 0.001], [W, 0.15, D - 0.001], [0, 0.15, D - 0.001]], '#6d6a5a'));
  parts.push(polygon([[W - 0.001, 0, 0.3], [W - 0.001, 0, D], [W - 0.001, 0.15, D], [W - 0.001, 0.15, 0.3]], '#6d6a5a'));
  for (const z0 of [1.0, 3.4, 5.8]) {
    const z1 = z0 + 1.8;
    const xw = W - 0.002;
    parts.push(polygon([[xw, 0.95, z0], [xw, 0.95, z1], [xw, 2.55, z1], [xw, 2.55, z0]], '#3f6b58'));
    parts.push(polygon([[xw, 1.0, z0 + 0.05], [xw, 1.0, z1 - 0.05], [xw, 2.5, z1 - 0.05], [xw, 2.5, z0 + 0.05]], '#e4eef2'));
    for (let z = z0 + 0.2; z < z1 - 0.1; z += 0.2) parts.push(line([xw - 0.01, 1.0, z], [xw - 0.01, 2.5, z], '#5b6d66', 2));
    parts.push(line([xw - 0.01, 1.75, z0], [xw - 0.01, 1.75, z1], '#3f6b58', 4));
  }
  for (const x of [1.8, 5.4]) {
    for (const z of [2.5, 5.5]) parts.push(polygon([[x - 0.6, H - 0.01, z - 0.06], [x + 0.6, H - 0.01, z - 0.06], [x + 0.6, H - 0.01, z + 0.06], [x - 0.6, H - 0.01, z + 0.06]], '#fbfbf4'));
  }
  // Back wall: a door, a notice board, a clock-like disc (drawn as a small square panel).
  const zb = D - 0.002;
  parts.push(polygon([[0.5, 0, zb], [1.45, 0, zb], [1.45, 2.2, zb], [0.5, 2.2, zb]], '#7b4b2a'));
  parts.push(polygon([[2.4, 1.2, zb], [5.2, 1.2, zb], [5.2, 2.3, zb], [2.4, 2.3, zb]], '#8f6b43'));
  parts.push(polygon([[2.5, 1.3, zb - 0.001], [5.1, 1.3, zb - 0.001], [5.1, 2.2, zb - 0.001], [2.5, 2.2, zb - 0.001]], '#b89a6a'));
  const papers: [number, number, string][] = [[2.7, 1.7, '#f4f1e6'], [3.3, 1.45, '#e8f0f6'], [3.9, 1.75, '#f7e9c8'], [4.5, 1.4, '#f4f1e6']];
  for (const [x, y, fill] of papers) parts.push(polygon([[x, y, zb - 0.002], [x + 0.42, y, zb - 0.002], [x + 0.42, y + 0.38, zb - 0.002], [x, y + 0.38, zb - 0.002]], fill));
  parts.push(polygon([[5.9, 2.35, zb], [6.25, 2.35, zb], [6.25, 2.7, zb], [5.9, 2.7, zb]], '#f2f2f2', 'stroke="#333" stroke-width="2"'));
  // Desks and chair backs, far to near so nearer ones cover farther ones.
  for (const z of [...ROW_FRONT_Z].reverse()) {
    for (const cx of DESK_CENTRES_X) {
      const x0 = cx - DESK.width / 2;
      for (const dx of [-0.3, 0.3]) {
        const zc = z + DESK.depth + 0.42;
        parts.push(box(cx + dx - 0.2, cx + dx + 0.2, 0.45, 0.88, zc, zc + 0.03, '#4a3a2c', '#5a4634', '#3d3024'));
      }
      parts.push(box(x0, x0 + DESK.width, 0, DESK.height, z, z + DESK.depth, '#b07d4f', '#7e5431', '#6b4628'));
    }
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${SCENE_WIDTH}" height="${SCENE_HEIGHT}">
<defs><linearGradient id="light" x1="0" y1="0" x2="1" y2="0.3">
<stop offset="0" stop-color="#000" stop-opacity="0.18"/><stop offset="0.7" stop-color="#fff" stop-opacity="0"/><stop offset="1" stop-color="#fff" stop-opacity="0.12"/>
</linearGradient></defs>
${parts.join('\n')}
<rect width="${SCENE_WIDTH}" height="${SCENE_HEIGHT}" fill="url(#light)"/>
</svg>`;
}

/** The empty room as raw RGB, with a little fixed sensor noise so flat walls do not look drawn. */
async function renderRoom(): Promise<Buffer> {
  const { data, info } = await sharp(Buffer.from(roomSvg()))
    .flatten({ background: '#000000' })
    .blur(0.6)
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== SCENE_WIDTH || info.height !== SCENE_HEIGHT) throw new Error('room render has an unexpected shape');
  const rng = mulberry32(0x636c6173);
  for (let i = 0; i < data.length; i++) data[i] = clampByte(data[i]! + (rng() - 0.5) * 10);
  return data;
}

const clampByte = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v | 0);

// ---------------------------------------------------------------------------------------
// Face sprites: a crop with a soft head-shaped alpha, resized with sharp, cached by size
// ---------------------------------------------------------------------------------------

interface Sprite {
  width: number;
  height: number;
  /** RGBA, straight alpha. */
  data: Buffer;
  /** Face box inside the sprite. */
  face: Rect;
}

/** The crop of one face with its alpha outline, at the photo's own resolution. */
interface SourceCrop {
  width: number;
  height: number;
  rgba: Buffer;
  /** Face box inside the crop. */
  face: Rect;
}

function cutCrop(photo: { data: Buffer; width: number; height: number }, crop: FaceCrop): SourceCrop {
  const { head, neck } = crop;
  const left = Math.max(0, Math.floor(Math.min(head.cx - head.rx, neck.x)) - 2);
  const top = Math.max(0, Math.floor(head.cy - head.ry) - 2);
  const right = Math.min(photo.width, Math.ceil(Math.max(head.cx + head.rx, neck.x + neck.w)) + 2);
  const bottom = Math.min(photo.height, Math.ceil(Math.max(head.cy + head.ry, neck.y + neck.h)) + 2);
  const width = right - left;
  const height = bottom - top;
  const rgba = Buffer.alloc(width * height * 4);
  const feather = 4;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const sx = x + left;
      const sy = y + top;
      // Soft ellipse: distance to the outline in photo pixels, approximately.
      const e = Math.hypot((sx - head.cx) / head.rx, (sy - head.cy) / head.ry);
      const aHead = (1 - e) * (Math.min(head.rx, head.ry) / feather) + 0.5;
      // The neck: soft sides, fading out at the bottom where the shoulders take over.
      const inside = Math.min(sx - neck.x, neck.x + neck.w - sx) / feather + 0.5;
      const fade = (neck.y + neck.h - sy) / (neck.h / 2);
      const aNeck = sy >= neck.y ? Math.min(inside, fade) : -1;
      const a = Math.max(0, Math.min(1, Math.max(aHead, aNeck)));
      const si = (sy * photo.width + sx) * 3;
      const di = (y * width + x) * 4;
      rgba[di] = photo.data[si]!;
      rgba[di + 1] = photo.data[si + 1]!;
      rgba[di + 2] = photo.data[si + 2]!;
      rgba[di + 3] = Math.round(a * 255);
    }
  }
  return { width, height, rgba, face: { x: crop.face.x - left, y: crop.face.y - top, w: crop.face.w, h: crop.face.h } };
}

async function resizeCrop(src: SourceCrop, faceWidthPx: number): Promise<Sprite> {
  const scale = faceWidthPx / src.face.w;
  const width = Math.max(1, Math.round(src.width * scale));
  const height = Math.max(1, Math.round(src.height * scale));
  const data = await sharp(src.rgba, { raw: { width: src.width, height: src.height, channels: 4 } })
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  const sx = width / src.width;
  const sy = height / src.height;
  return { width, height, data, face: { x: src.face.x * sx, y: src.face.y * sy, w: src.face.w * sx, h: src.face.h * sy } };
}

// ---------------------------------------------------------------------------------------
// People: who sits where and how they look, from the seed
// ---------------------------------------------------------------------------------------

interface Person {
  spot: Spot;
  crop: number;
  mirrored: boolean;
  /** Face width in the frame, px (integer: sprites are cached per size). */
  facePx: number;
  /** Face centre in the frame after jitter. */
  u: number;
  v: number;
  depth: number;
  brightness: number;
  shirt: readonly [number, number, number];
}

/** School uniform: mostly white shirts, some light blue; the teacher in a colour. */
const SHIRTS: readonly (readonly [number, number, number])[] = [
  [236, 236, 232], [240, 240, 236], [226, 230, 236], [196, 214, 234], [232, 232, 226],
];
const TEACHER_SHIRTS: readonly (readonly [number, number, number])[] = [[150, 40, 60], [40, 80, 140], [60, 110, 80], [170, 120, 50]];

/** Seats in the order a seed fills them, and each spot's look, independent of the count. */
function cast(seed: number, count: number): Person[] {
  const order = [SPOTS.teacher, ...shuffled(deriveRng(seed, 'seating'), SPOTS.seats), ...SPOTS.standing];
  const people: Person[] = [];
  for (let i = 0; i < Math.min(count, order.length); i++) {
    const spot = order[i]!;
    const rng: Rng = deriveRng(seed, 'person', i);
    const p = project(spot.face);
    const facePx = Math.round(((FOCAL_PX * FACE_WIDTH_M) / p.depth) * between(rng, 0.93, 1.07));
    const jitter = facePx * 0.08;
    people.push({
      spot,
      crop: Math.floor(rng() * FACE_CROPS.length),
      mirrored: chance(rng, 0.5),
      facePx,
      u: p.u + between(rng, -jitter, jitter),
      v: p.v + between(rng, -jitter, jitter),
      depth: p.depth,
      brightness: between(rng, 0.82, 1.12),
      shirt: pick(rng, i === 0 ? TEACHER_SHIRTS : SHIRTS),
    });
  }
  // Painter's order: farthest first.
  return people.sort((a, b) => b.depth - a.depth);
}

// ---------------------------------------------------------------------------------------
// Drawing into the raw frame
// ---------------------------------------------------------------------------------------

/** Shoulders and chest: a rounded-top trunk from below the chin down to the desk (or the waist when standing). */
function drawBody(frame: Buffer, owner: Uint16Array, id: number, person: Person, shade: number): void {
  const { spot, facePx, u } = person;
  const pxPerM = facePx / FACE_WIDTH_M;
  const halfWidth = (SHOULDER_WIDTH_M / 2) * pxPerM;
  const top = person.v + 0.11 * pxPerM;
  const shoulderDrop = 0.1 * pxPerM;
  const bottom = spot.deskEdge ? Math.max(top + shoulderDrop, project(spot.deskEdge).v) : top + 0.55 * pxPerM;
  const y0 = Math.max(0, Math.floor(top));
  const y1 = Math.min(SCENE_HEIGHT - 1, Math.ceil(bottom));
  const [r, g, b] = person.shirt;
  for (let y = y0; y <= y1; y++) {
    const dy = y + 0.5 - top;
    if (dy < 0) continue;
    const t = Math.min(1, dy / shoulderDrop);
    const hw = halfWidth * (0.45 + 0.55 * Math.sqrt(t * (2 - t)));
    const x0 = Math.max(0, Math.floor(u - hw - 1));
    const x1 = Math.min(SCENE_WIDTH - 1, Math.ceil(u + hw + 1));
    for (let x = x0; x <= x1; x++) {
      const dx = Math.abs(x + 0.5 - u);
      const a = Math.max(0, Math.min(1, hw - dx + 0.5));
      if (a <= 0) continue;
      // Rounder towards the edges, and a crease of shadow down the middle for folds.
      const light = shade * (1 - 0.28 * (dx / hw) ** 2);
      const px = y * SCENE_WIDTH + x;
      if (a >= 0.5) owner[px] = id;
      const i = px * 3;
      frame[i] = clampByte(frame[i]! + (r * light - frame[i]!) * a);
      frame[i + 1] = clampByte(frame[i + 1]! + (g * light - frame[i + 1]!) * a);
      frame[i + 2] = clampByte(frame[i + 2]! + (b * light - frame[i + 2]!) * a);
    }
  }
}

/** Paste a sprite so its face centre lands on (u, v); returns the face box in the frame. */
function drawSprite(frame: Buffer, owner: Uint16Array, id: number, sprite: Sprite, person: Person): Rect {
  const faceCx = person.mirrored ? sprite.width - (sprite.face.x + sprite.face.w / 2) : sprite.face.x + sprite.face.w / 2;
  const left = Math.round(person.u - faceCx);
  const top = Math.round(person.v - (sprite.face.y + sprite.face.h / 2));
  const k = person.brightness;
  for (let y = 0; y < sprite.height; y++) {
    const fy = top + y;
    if (fy < 0 || fy >= SCENE_HEIGHT) continue;
    for (let x = 0; x < sprite.width; x++) {
      const fx = left + x;
      if (fx < 0 || fx >= SCENE_WIDTH) continue;
      const sx = person.mirrored ? sprite.width - 1 - x : x;
      const si = (y * sprite.width + sx) * 4;
      const a = sprite.data[si + 3]! / 255;
      if (a === 0) continue;
      const px = fy * SCENE_WIDTH + fx;
      if (a >= 0.5) owner[px] = id;
      const i = px * 3;
      frame[i] = clampByte(frame[i]! + (sprite.data[si]! * k - frame[i]!) * a);
      frame[i + 1] = clampByte(frame[i + 1]! + (sprite.data[si + 1]! * k - frame[i + 1]!) * a);
      frame[i + 2] = clampByte(frame[i + 2]! + (sprite.data[si + 2]! * k - frame[i + 2]!) * a);
    }
  }
  const faceX = person.mirrored ? sprite.width - sprite.face.x - sprite.face.w : sprite.face.x;
  return { x: left + faceX, y: top + sprite.face.y, w: sprite.face.w, h: sprite.face.h };
}

// ---------------------------------------------------------------------------------------
// The composer
// ---------------------------------------------------------------------------------------

export interface ComposeOptions {
  /** Lights off / lens covered: the people are there but nothing is visible (faces: 0). */
  dark?: boolean;
}

export interface FaceBox extends Rect {
  /**
   * 0..1, the share of the box nobody nearer covers. The layout keeps every face at least
   * about 0.9 visible even with the room full (at worst a chin behind the hair in front).
   */
  visible: number;
}

export interface ComposedFrame {
  jpeg: Buffer;
  width: number;
  height: number;
  /** Faces visible in the frame: the true count a face counter should find. */
  faces: number;
  /** Each visible face's box (cheek to cheek, brow to chin), far to near, with the share of it not hidden by anyone nearer. */
  boxes: FaceBox[];
}

export interface ClassroomSceneOptions {
  /** JPEG quality (default 85, about what an IP camera's snapshot uses). */
  quality?: number;
}

export class ClassroomScene {
  private readonly sprites = new Map<string, Promise<Sprite>>();

  private constructor(
    private readonly room: Buffer,
    private readonly crops: readonly SourceCrop[],
    private readonly quality: number,
  ) {}

  /** Loads the face photo and draws the empty room (a few hundred ms, once). */
  static async create(options: ClassroomSceneOptions = {}): Promise<ClassroomScene> {
    const photoPath = createRequire(import.meta.url).resolve(FACE_PHOTO);
    const { data, info } = await sharp(photoPath).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const photo = { data, width: info.width, height: info.height };
    const crops = FACE_CROPS.map((c) => cutCrop(photo, c));
    return new ClassroomScene(await renderRoom(), crops, options.quality ?? 85);
  }

  get capacity(): number {
    return SCENE_CAPACITY;
  }

  /** A frame with `count` people (clamped to 0..capacity), the same bytes for the same (seed, count, options). */
  async compose(seed: number, count: number, options: ComposeOptions = {}): Promise<ComposedFrame> {
    const n = Math.max(0, Math.min(SCENE_CAPACITY, Math.floor(Number.isFinite(count) ? count : 0)));
    const people = cast(seed >>> 0, n);
    const sprites = await Promise.all(people.map((p) => this.sprite(p.crop, p.facePx)));
    const frame = Buffer.from(this.room);
    // Who owns each pixel at the end: a face's unoccluded share is what a counter can see.
    const owner = new Uint16Array(SCENE_WIDTH * SCENE_HEIGHT);
    const boxes: Rect[] = [];
    people.forEach((person, i) => {
      drawBody(frame, owner, i + 1, person, person.brightness);
      boxes.push(drawSprite(frame, owner, i + 1, sprites[i]!, person));
    });
    if (options.dark) darken(frame, seed);
    const jpeg = await sharp(frame, { raw: { width: SCENE_WIDTH, height: SCENE_HEIGHT, channels: 3 } })
      .jpeg({ quality: this.quality, chromaSubsampling: '4:2:0' })
      .toBuffer();
    if (options.dark) return { jpeg, width: SCENE_WIDTH, height: SCENE_HEIGHT, faces: 0, boxes: [] };
    const faces = boxes.map((box, i) => ({ ...box, visible: visibleShare(owner, box, i + 1) }));
    return { jpeg, width: SCENE_WIDTH, height: SCENE_HEIGHT, faces: faces.length, boxes: faces };
  }

  private sprite(crop: number, facePx: number): Promise<Sprite> {
    const key = `${crop}:${facePx}`;
    let sprite = this.sprites.get(key);
    if (!sprite) {
      sprite = resizeCrop(this.crops[crop]!, facePx);
      this.sprites.set(key, sprite);
    }
    return sprite;
  }
}

/** The share of a face box still showing after everyone nearer was drawn. */
function visibleShare(owner: Uint16Array, box: Rect, id: number): number {
  const x0 = Math.max(0, Math.round(box.x));
  const y0 = Math.max(0, Math.round(box.y));
  const x1 = Math.min(SCENE_WIDTH, Math.round(box.x + box.w));
  const y1 = Math.min(SCENE_HEIGHT, Math.round(box.y + box.h));
  const area = Math.max(1, Math.round(box.w) * Math.round(box.h));
  // Ids follow drawing order, so a larger id is someone nearer painted over this face.
  let covered = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (owner[y * SCENE_WIDTH + x]! > id) covered++;
  return Math.round((1 - covered / area) * 1000) / 1000;
}

/** A room with the lights off at night: values of a few levels plus sensor noise. */
function darken(frame: Buffer, seed: number): void {
  const rng = mulberry32(seed ^ 0x6461726b);
  for (let i = 0; i < frame.length; i++) frame[i] = clampByte(frame[i]! * 0.02 + rng() * 4);
}

let shared: Promise<ClassroomScene> | null = null;

/** One scene per process: every simulated camera shares the room and the sprite cache. */
export function sharedClassroomScene(): Promise<ClassroomScene> {
  shared ??= ClassroomScene.create().catch((err: unknown) => {
    shared = null;
    throw err;
  });
  return shared;
}
