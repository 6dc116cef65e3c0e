"""Sign renderer: a gloss sequence -> a small synthetic signing video, uint8 [T, H, W, 3].

Each gloss is a short motion pattern: one or two "hands" (filled shapes of a gloss-specific
colour, shape and size) moving along a gloss-specific path. The downstream model sees frames
through a frozen, randomly initialised CNN at ~40x32 pixels, so patterns differ in what such
a network keeps best: colour first, then shape/size, then position.

* Glosses of the grammar's vocabulary get *designed* patterns: pattern ``i`` takes colour
  ``i % 12``, path ``i % 7`` and shape ``(i // 12) % 5``, so the first 84 patterns never share
  both colour and path. The grammars list their glosses most frequent first, so frequent signs
  are the distinct ones and a rare sign resembles a frequent one (a near-minimal pair).
* Any other gloss (a real annotation, say) gets a pattern derived from the SHA-256 of its
  string, so every annotation renders, identically across runs and machines.
* Homonym glosses share the pattern of their key (``homonyms``), hence render identically.

A signer (any id string) has a fixed appearance (background tint, body colour, hand size and
colour shift, position offset) and speed (frames per gloss within ``frames_per_gloss``). Between
glosses, ``transition_frames`` frames move a neutral skin-coloured hand from one pattern's end
to the next one's start. Gaussian pixel noise (``noise_std``) is added last.
``render_with_keypoints`` also returns where it drew the head, the shoulders and each hand, per
frame, in the joint layout of :mod:`qbslt.data.keypoints` (the embedded profile's keypoints; the
video is the same, byte for byte). ``render_annotated`` adds the gloss segments: for each gloss,
the frames that sign it, in the frame numbering of the returned video (dropped frames already gone;
transition frames belong to no gloss) -- the isolated-sign clips of SL-SLR (:mod:`qbslt.slslr.clips`).

Optional settings make the video hard in the ways real video is (all off by default; the
embedded data sets them under ``data.synthetic.hard_video``, see docs/embedded-data.md):
``speed_jitter`` (each sign at its own speed), ``coarticulation`` (neighbouring signs blend
into each other, transitions morph instead of resting), ``drop_frames`` (frames lost; never
a whole sign), ``occlusion`` (something passes in front of the signer) and ``lighting``
(per-video gain and colour cast).
"""

from __future__ import annotations

import colorsys
import hashlib
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

from qbslt.data.keypoints import JOINT_INDEX, NUM_JOINTS

# Well-separated saturated colours (none close to the dark backgrounds or the skin tone).
PALETTE = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (0, 128, 128), (170, 110, 40), (128, 0, 0),
)
# (start, end, bend) in normalised (x, y) image coordinates, y downwards.
PATHS = (
    ((0.20, 0.25), (0.80, 0.25), 0.0),
    ((0.50, 0.85), (0.50, 0.20), 0.0),
    ((0.25, 0.70), (0.75, 0.70), 0.25),
    ((0.80, 0.80), (0.20, 0.30), 0.0),
    ((0.30, 0.30), (0.30, 0.80), -0.2),
    ((0.70, 0.20), (0.70, 0.70), 0.2),
    ((0.35, 0.50), (0.65, 0.50), -0.35),
)
SHAPES = ("circle", "square", "triangle", "diamond", "bar")
SKIN = (225, 190, 160)
SEGMENTS_NAME = "segments.tsv"  # a rendered video's gloss segments, beside its frames (generate.py)


def stable_code(text: str) -> int:
    """A 64-bit integer of ``text`` that is the same in every process (unlike ``hash()``)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


@dataclass(frozen=True)
class Pattern:
    """How one sign looks: hand colour/shape/size and a path from ``start`` to ``end``."""

    colour: tuple[int, int, int]
    shape: str
    size: float  # hand radius, as a fraction of min(H, W)
    start: tuple[float, float]
    end: tuple[float, float]
    bend: float  # sideways bulge of the path at its middle, as a fraction of the image
    two_hands: bool  # a second hand, point-mirrored through the image centre

    def position(self, t: float) -> tuple[float, float]:
        """Normalised position of the (first) hand at time ``t`` in [0, 1]."""
        (x0, y0), (x1, y1) = self.start, self.end
        dx, dy = x1 - x0, y1 - y0
        length = max((dx * dx + dy * dy) ** 0.5, 1e-6)
        bulge = self.bend * 4 * t * (1 - t)
        return x0 + dx * t - dy / length * bulge, y0 + dy * t + dx / length * bulge


@dataclass(frozen=True)
class Signer:
    """A signer's fixed appearance and speed."""

    background: tuple[int, int, int]
    body: tuple[int, int, int]
    skin: tuple[int, int, int]
    hand_scale: float
    colour_shift: tuple[int, int, int]
    offset: tuple[float, float]  # normalised
    frames_per_gloss: int


@dataclass(frozen=True)
class Hand:
    """One hand to draw in one frame (normalised centre)."""

    x: float
    y: float
    size: float
    shape: str
    colour: tuple[int, int, int]


def designed_pattern(index: int) -> Pattern:
    """Pattern number ``index`` of a vocabulary (see the module docstring for the scheme)."""
    start, end, bend = PATHS[index % len(PATHS)]
    return Pattern(colour=PALETTE[index % len(PALETTE)], shape=SHAPES[(index // len(PALETTE)) % len(SHAPES)],
                   size=(0.19, 0.24)[(index // len(PATHS)) % 2], start=start, end=end, bend=bend,
                   two_hands=index % 5 in (1, 3))


def hashed_pattern(key: str) -> Pattern:
    """A pattern drawn from the SHA-256 of ``key``: stable, and distinct for distinct strings."""
    rng = np.random.default_rng(stable_code("pattern:" + key))
    hue, saturation, value = rng.uniform(0, 1), rng.uniform(0.6, 1.0), rng.uniform(0.7, 1.0)
    colour = tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(hue, saturation, value))
    start, end = tuple(rng.uniform(0.2, 0.8, 2)), tuple(rng.uniform(0.2, 0.8, 2))
    return Pattern(colour=colour, shape=SHAPES[int(rng.integers(len(SHAPES)))], size=float(rng.uniform(0.16, 0.24)),
                   start=start, end=end, bend=float(rng.uniform(-0.3, 0.3)), two_hands=bool(rng.random() < 0.4))


class SignRenderer:
    """Renders gloss sequences for any signer id at ``frame_size`` (H, W).

    ``render_cfg`` is ``data.synthetic.render``; ``seed`` fixes the signers' appearance;
    ``vocabulary`` (glosses, in order) gets designed patterns, ``homonyms`` maps a gloss to the
    gloss whose pattern it shares.
    """

    def __init__(self, frame_size: Sequence[int], render_cfg: Mapping, seed: int = 0,
                 vocabulary: Sequence[str] = (), homonyms: Mapping[str, str] | None = None):
        self.height, self.width = (int(v) for v in frame_size)
        self.frames_per_gloss = tuple(int(v) for v in render_cfg["frames_per_gloss"])
        self.transition_frames = tuple(int(v) for v in render_cfg["transition_frames"])
        self.noise_std = float(render_cfg["noise_std"])
        # Ways real video is hard (docs/embedded-data.md, "Video"); all off unless configured.
        self.speed_jitter = float(render_cfg.get("speed_jitter", 0.0))
        self.coarticulation = float(render_cfg.get("coarticulation", 0.0))
        self.drop_frames = float(render_cfg.get("drop_frames", 0.0))
        self.occlusion = float(render_cfg.get("occlusion", 0.0))
        self.lighting = float(render_cfg.get("lighting", 0.0))
        self.seed = int(seed)
        self.homonyms = dict(homonyms or {})
        keys = dict.fromkeys(self.homonyms.get(g, g) for g in vocabulary)
        self._designed = {key: designed_pattern(i) for i, key in enumerate(keys)}
        self._signers: dict[str, Signer] = {}

    def pattern(self, gloss: str) -> Pattern:
        key = self.homonyms.get(gloss, gloss)
        return self._designed[key] if key in self._designed else hashed_pattern(key)

    def signer(self, signer_id: str) -> Signer:
        """The appearance of ``signer_id`` (derived from the seed and the id, cached)."""
        if signer_id not in self._signers:
            rng = np.random.default_rng([self.seed, stable_code("signer:" + signer_id)])
            grey = rng.uniform(45, 70)
            background = tuple(int(grey + t) for t in rng.uniform(-6, 6, 3))
            body = tuple(int(v) for v in rng.uniform(30, 90, 3))
            skin = tuple(int(np.clip(c + d, 0, 255)) for c, d in zip(SKIN, rng.uniform(-25, 25, 3)))
            low, high = self.frames_per_gloss
            self._signers[signer_id] = Signer(
                background=background, body=body, skin=skin, hand_scale=float(rng.uniform(0.85, 1.15)),
                colour_shift=tuple(int(v) for v in rng.integers(-12, 13, 3)),
                offset=tuple(float(v) for v in rng.uniform(-0.03, 0.03, 2)),
                frames_per_gloss=int(rng.integers(low, high + 1)))
        return self._signers[signer_id]

    def render(self, glosses: Sequence[str], signer_id: str, rng: np.random.Generator) -> np.ndarray:
        """uint8 video [T, H, W, 3] of ``glosses`` signed by ``signer_id``; T = 0 for no glosses.

        ``rng`` draws the transition lengths, a small per-video shift and the pixel noise.
        """
        return self.render_with_keypoints(glosses, signer_id, rng)[0]

    def render_with_keypoints(self, glosses: Sequence[str], signer_id: str,
                              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(video uint8 [T, H, W, 3], keypoints float32 [T, 75, 3]): :meth:`render`'s video, identical
        byte for byte (the keypoints draw nothing from ``rng``), and where it drew the body and the hands
        in the joint layout of :mod:`qbslt.data.keypoints` (``_keypoints``)."""
        return self.render_annotated(glosses, signer_id, rng)[:2]

    def render_annotated(self, glosses: Sequence[str], signer_id: str, rng: np.random.Generator
                         ) -> tuple[np.ndarray, np.ndarray, list[tuple[str, int, int]]]:
        """:meth:`render_with_keypoints`'s (video, keypoints), the same bytes, and the gloss segments
        [(gloss, start, end)]: gloss ``i`` is signed in frames ``start <= t < end`` of that video (in
        gloss order; the segments record what was drawn and draw nothing from ``rng``)."""
        signer = self.signer(signer_id)
        shift = tuple(float(v) for v in rng.uniform(-0.02, 0.02, 2))
        frames, segments = self._hand_frames(glosses, signer, rng)
        if not frames:
            return (np.zeros((0, self.height, self.width, 3), np.uint8), np.zeros((0, NUM_JOINTS, 3), np.float32),
                    segments)
        base = self._base_image(signer)
        occluder = self._occluder(len(frames), signer, rng) if self.occlusion > 0 else None
        active = [occluder if occluder and occluder[0] <= k < occluder[1] else None for k in range(len(frames))]
        video = np.stack([self._draw(base, hands, signer, shift, active[k])
                          for k, hands in enumerate(frames)]).astype(np.float32)
        keypoints = np.stack([self._keypoints(hands, signer, shift, active[k]) for k, hands in enumerate(frames)])
        if self.lighting > 0:
            gain = rng.uniform(1 - self.lighting, 1 + self.lighting)
            cast = rng.uniform(-self.lighting, self.lighting, 3).astype(np.float32) * 60
            video = video * np.float32(gain) + cast
        if self.noise_std > 0:
            video += rng.standard_normal(video.shape, dtype=np.float32) * self.noise_std
        return np.clip(np.rint(video), 0, 255).astype(np.uint8), keypoints, segments

    # --- frame content ------------------------------------------------------------------

    def _hand_frames(self, glosses: Sequence[str], signer: Signer, rng: np.random.Generator
                     ) -> tuple[list[list[Hand]], list[tuple[str, int, int]]]:
        """(per frame, the hands to draw: each gloss's pattern, with transitions in between; per gloss,
        (gloss, first frame, end frame) of its own frames in that list).

        With ``speed_jitter`` each sign gets its own frame count (the signer's speed times
        U(1 - j, 1 + j)); with ``coarticulation`` c each sign starts and ends up to c/2 of its path
        early or late and its first and last frames take on up to c/2 of the neighbouring sign's
        colour, and the transition hand morphs from one sign into the next instead of resting;
        with ``drop_frames`` p each frame is lost with probability p (every sign keeps one frame).
        """
        signs: list[list[list[Hand]]] = []  # per sign: its transition frames (before it), then its own frames
        patterns = [self.pattern(g) for g in glosses]
        low, high = self.transition_frames
        c = self.coarticulation
        for i, pattern in enumerate(patterns):
            previous = patterns[i - 1] if i else None
            following = patterns[i + 1] if i + 1 < len(patterns) else None
            count = signer.frames_per_gloss
            if self.speed_jitter > 0:
                count = max(1, int(round(count * rng.uniform(1 - self.speed_jitter, 1 + self.speed_jitter))))
            start, end = 0.0, 1.0
            if c > 0:
                start, end = (c / 2 * rng.uniform() if previous else 0.0), (1 - c / 2 * rng.uniform() if following else 1.0)
            transition = []
            if previous is not None:
                steps = int(rng.integers(low, high + 1))
                transition = (self._morph(previous, pattern, steps, signer) if c > 0 else
                              self._transition(previous.position(1.0), pattern.position(0.0), steps, signer))
            own = []
            for k in range(count):
                u = k / (count - 1) if count > 1 else 0.5
                blend = None
                if c > 0 and k == 0 and previous is not None:
                    blend = (previous, c / 2)
                elif c > 0 and k == count - 1 and following is not None:
                    blend = (following, c / 2)
                own.append(self._pattern_hands(pattern, start + (end - start) * u, signer, blend))
            signs.append([transition, own])
        if self.drop_frames > 0:
            for pattern, parts in zip(patterns, signs):
                for part in parts:
                    keep = rng.random(len(part)) >= self.drop_frames
                    part[:] = [f for f, k in zip(part, keep) if k]
                if not parts[1]:  # a sign never vanishes completely
                    parts[1].append(self._pattern_hands(pattern, 0.5, signer))
        frames, segments = [], []
        for gloss, (transition, own) in zip(glosses, signs):
            frames += transition
            segments.append((str(gloss), len(frames), len(frames) + len(own)))
            frames += own
        return frames, segments

    def _pattern_hands(self, pattern: Pattern, t: float, signer: Signer,
                       blend: tuple[Pattern, float] | None = None) -> list[Hand]:
        x, y = pattern.position(t)
        base = pattern.colour
        if blend is not None:
            other, weight = blend
            base = tuple(a + (b - a) * weight for a, b in zip(pattern.colour, other.colour))
        colour = tuple(int(np.clip(round(c + s), 0, 255)) for c, s in zip(base, signer.colour_shift))
        size = pattern.size * signer.hand_scale
        hands = [Hand(x, y, size, pattern.shape, colour)]
        if pattern.two_hands:
            hands.append(Hand(1.0 - x, 1.0 - y, size, pattern.shape, colour))
        return hands

    def _morph(self, a: Pattern, b: Pattern, count: int, signer: Signer) -> list[list[Hand]]:
        """Co-articulated transition: ``count`` frames of a hand turning from sign ``a``'s end into ``b``'s start."""
        frames = []
        (x0, y0), (x1, y1) = a.position(1.0), b.position(0.0)
        for k in range(1, count + 1):
            t = k / (count + 1)
            colour = tuple(int(np.clip(round(ca + (cb - ca) * t + s), 0, 255))
                           for ca, cb, s in zip(a.colour, b.colour, signer.colour_shift))
            size = (a.size + (b.size - a.size) * t) * signer.hand_scale
            frames.append([Hand(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, size, (a if t < 0.5 else b).shape, colour)])
        return frames

    def _occluder(self, length: int, signer: Signer,
                  rng: np.random.Generator) -> tuple[int, int, tuple[float, float, float, float], tuple[int, int, int]] | None:
        """With probability ``occlusion``: (first frame, end frame, normalised box, colour) of something
        passing in front of the signer (an arm, say) for 20-60 % of the video."""
        if rng.random() >= self.occlusion:
            return None
        run = max(1, int(round(length * rng.uniform(0.2, 0.6))))
        first = int(rng.integers(0, length - run + 1))
        w, h = rng.uniform(0.3, 0.55, 2)
        x, y = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
        colour = signer.body if rng.random() < 0.5 else signer.skin
        return first, first + run, (float(x), float(y), float(x + w), float(y + h)), colour

    @staticmethod
    def _transition(start: tuple[float, float], end: tuple[float, float], count: int, signer: Signer) -> list[list[Hand]]:
        """``count`` frames of a neutral hand moving from ``start`` to ``end`` (both excluded)."""
        frames = []
        for k in range(1, count + 1):
            t = k / (count + 1)
            x, y = start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t
            frames.append([Hand(x, y, 0.14 * signer.hand_scale, "circle", signer.skin)])
        return frames

    # --- keypoints ----------------------------------------------------------------------

    def _keypoints(self, hands: list[Hand], signer: Signer, shift: tuple[float, float], occluder=None) -> np.ndarray:
        """Where one frame's body and hands are drawn, float32 [75, 3] (x, y normalised, score 1.0; NaN:
        not drawn). The head's centre is the nose and its left and right edges the ears, the torso's top
        corners the shoulders (the signer faces the camera: their left is the image's right); each hand
        is one shape whose centre is written as that hand's wrist -- the first hand drawn is the right
        hand, the point-mirrored second one the left. Joints outside the frame or under the occluder are
        NaN; a hand drawn over the head does not hide it."""
        points = np.full((NUM_JOINTS, 3), np.nan, dtype=np.float32)
        r = 0.13 * min(self.height, self.width)  # as _base_image draws the head
        drawn = {"pose.NOSE": (0.5, 0.38), "pose.LEFT_EAR": (0.5 + r / self.width, 0.38),
                 "pose.RIGHT_EAR": (0.5 - r / self.width, 0.38),
                 "pose.LEFT_SHOULDER": (0.78, 0.62), "pose.RIGHT_SHOULDER": (0.22, 0.62)}
        for hand, part in zip(hands, ("right_hand", "left_hand")):
            drawn[f"{part}.WRIST"] = (hand.x + signer.offset[0] + shift[0], hand.y + signer.offset[1] + shift[1])
        for joint, (x, y) in drawn.items():
            hidden = occluder is not None and (occluder[2][0] <= x <= occluder[2][2] and
                                               occluder[2][1] <= y <= occluder[2][3])
            if 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 and not hidden:
                points[JOINT_INDEX[joint]] = (x, y, 1.0)
        return points

    # --- drawing ------------------------------------------------------------------------

    def _base_image(self, signer: Signer) -> Image.Image:
        """Background with the signer's body (torso and head), shared by all frames."""
        h, w = self.height, self.width
        image = Image.new("RGB", (w, h), signer.background)
        draw = ImageDraw.Draw(image)
        draw.rectangle([0.22 * w, 0.62 * h, 0.78 * w, h], fill=signer.body)
        r = 0.13 * min(h, w)
        draw.ellipse([0.5 * w - r, 0.38 * h - r, 0.5 * w + r, 0.38 * h + r], fill=signer.skin)
        return image

    def _draw(self, base: Image.Image, hands: list[Hand], signer: Signer, shift: tuple[float, float],
              occluder=None) -> np.ndarray:
        image = base.copy()
        draw = ImageDraw.Draw(image)
        unit = min(self.height, self.width)
        for hand in hands:
            x = (hand.x + signer.offset[0] + shift[0]) * self.width
            y = (hand.y + signer.offset[1] + shift[1]) * self.height
            _draw_shape(draw, hand.shape, x, y, hand.size * unit, hand.colour)
        if occluder is not None:
            x0, y0, x1, y1 = occluder[2]
            draw.rectangle([x0 * self.width, y0 * self.height, x1 * self.width, y1 * self.height], fill=occluder[3])
        return np.asarray(image)


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, x: float, y: float, r: float, colour) -> None:
    if shape == "circle":
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
    elif shape == "square":
        draw.rectangle([x - 0.85 * r, y - 0.85 * r, x + 0.85 * r, y + 0.85 * r], fill=colour)
    elif shape == "triangle":
        draw.polygon([(x, y - r), (x - r, y + 0.8 * r), (x + r, y + 0.8 * r)], fill=colour)
    elif shape == "diamond":
        draw.polygon([(x, y - r), (x + r, y), (x, y + r), (x - r, y)], fill=colour)
    elif shape == "bar":
        draw.rectangle([x - 1.2 * r, y - 0.4 * r, x + 1.2 * r, y + 0.4 * r], fill=colour)
    else:
        raise ValueError(f"unknown hand shape {shape!r}")
