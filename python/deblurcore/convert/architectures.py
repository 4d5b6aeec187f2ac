"""Expected parameter tables, variant detection and runtime metadata per architecture.

Each table lists every convolution of the official deblurring network in ``state_dict``
order, with its weight shape (``Cout×Cin×kh×kw`` for Conv2d, ``Cin×Cout×kh×kw`` for
ConvTranspose2d) and a role used only to draw sensible random weights. The tables follow
the reference specs (STFAN §2, IFAN §2/§6, ASPDC §2); the parameter totals are asserted in
the tests.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from .errors import ConversionError

# Roles (random initialisation only): plain conv followed by LeakyReLU; second conv of a
# residual unit (its output is added to the skip); transposed conv; conv without activation;
# filter heads of adaptive layers; DCN offset / mask predictors.
CONV, RES2, CONVT, LINEAR = "conv", "res2", "convT", "linear"
FAC_HEAD, IAC_HEAD, DCN_OFFSET, DCN_MASK = "fac_head", "iac_head", "dcn_offset", "dcn_mask"
IMAGE_HEAD = "image_head"  # last conv, whose output is added to the input image


@dataclass(frozen=True)
class ConvSpec:
    """One convolution: key prefix, weight shape, role, stride (for transposed convs)."""

    prefix: str
    weight: tuple[int, ...]
    role: str = CONV

    @property
    def bias(self) -> tuple[int, ...]:
        # Conv2d weight is (Cout, Cin, kh, kw); ConvTranspose2d weight is (Cin, Cout, kh, kw).
        return (self.weight[1],) if self.role == CONVT else (self.weight[0],)


@dataclass(frozen=True)
class Variant:
    """A concrete variant of an architecture and the metadata it implies."""

    name: str
    params: Mapping[str, int | bool | str] = field(default_factory=dict)
    metadata: Mapping[str, str] = field(default_factory=dict)


def _c(prefix: str, cin: int, cout: int, k: int = 3, role: str = CONV) -> ConvSpec:
    return ConvSpec(prefix, (cout, cin, k, k), role)


def _ct(prefix: str, cin: int, cout: int, k: int) -> ConvSpec:
    return ConvSpec(prefix, (cin, cout, k, k), CONVT)


def _specs_to_shapes(specs: Sequence[ConvSpec]) -> "OrderedDict[str, tuple[int, ...]]":
    out: OrderedDict[str, tuple[int, ...]] = OrderedDict()
    for s in specs:
        out[f"{s.prefix}.weight"] = s.weight
        out[f"{s.prefix}.bias"] = s.bias
    return out


# --------------------------------------------------------------------------- STFAN

def _stfan_rb(name: str, c: int) -> list[ConvSpec]:
    """STFAN ResnetBlock: ``name.stem.0`` (conv+LReLU) and ``name.stem.2`` (conv, then + x)."""
    return [_c(f"{name}.stem.0", c, c), _c(f"{name}.stem.2", c, c, role=RES2)]


def stfan_convs() -> list[ConvSpec]:
    """The 55 convolutions of STFAN's DeblurNet (stfan.md §2), in state_dict order."""
    s: list[ConvSpec] = [_c("fea.0", 256, 128), _c("conv1_1.0", 3, 32)]
    s += _stfan_rb("conv1_2", 32) + _stfan_rb("conv1_3", 32)
    s += [_c("conv2_1.0", 32, 64)] + _stfan_rb("conv2_2", 64) + _stfan_rb("conv2_3", 64)
    s += [_c("conv3_1.0", 64, 128)] + _stfan_rb("conv3_2", 128) + _stfan_rb("conv3_3", 128)
    s += [_ct("upconv2_u.0", 256, 64, 4)] + _stfan_rb("upconv2_2", 64) + _stfan_rb("upconv2_1", 64)
    s += [_ct("upconv1_u.0", 64, 32, 4)] + _stfan_rb("upconv1_2", 32) + _stfan_rb("upconv1_1", 32)
    s += [_c("img_prd.0", 32, 3, role=IMAGE_HEAD)]
    s += [_c("kconv1_1.0", 9, 32)] + _stfan_rb("kconv1_2", 32) + _stfan_rb("kconv1_3", 32)
    s += [_c("kconv2_1.0", 32, 64)] + _stfan_rb("kconv2_2", 64) + _stfan_rb("kconv2_3", 64)
    s += [_c("kconv3_1.0", 64, 128)] + _stfan_rb("kconv3_2", 128) + _stfan_rb("kconv3_3", 128)
    s += [_c("fac_warp.0.0", 128, 128)] + _stfan_rb("fac_warp.1", 128) + _stfan_rb("fac_warp.2", 128)
    s += [_c("fac_warp.3.0", 128, 3200, 1, FAC_HEAD)]
    s += [_c("kconv4.0", 3200, 128, 1)]
    s += [_c("fac_deblur.0.0", 256, 128)] + _stfan_rb("fac_deblur.1", 128) + _stfan_rb("fac_deblur.2", 128)
    s += [_c("fac_deblur.3.0", 128, 3200, 1, FAC_HEAD)]
    return s


# --------------------------------------------------------------------------- IFAN

IFAN_FILTER_ROWS_PER_ITERATION = 896  # 128 channels × (3 + 3) taps + 128 biases


def _ifan_rb(name: str, c: int, n: int) -> list[ConvSpec]:
    """IFAN ResnetBlock with ``n`` units: ``name.stem.<i>.0`` and ``name.stem.<i>.2``."""
    out: list[ConvSpec] = []
    for i in range(n):
        out += [_c(f"{name}.stem.{i}.0", c, c), _c(f"{name}.stem.{i}.2", c, c, role=RES2)]
    return out


def ifan_convs(iterations: int = 17, dual: bool = False) -> list[ConvSpec]:
    """The 79 convolutions of IFAN's Network (ifan.md §2) for N iterations / dual-pixel input."""
    s: list[ConvSpec] = []
    s += [_c("conv1_1.0", 3, 32), _c("conv1_2.0", 32, 32), _c("conv1_3.0", 32, 32)]
    s += [_c("conv2_1.0", 32, 64), _c("conv2_2.0", 64, 64), _c("conv2_3.0", 64, 64)]
    s += [_c("conv3_1.0", 64, 128), _c("conv3_2.0", 128, 128), _c("conv3_3.0", 128, 128)]
    s += [_c("conv4_1.0", 128, 128), _c("conv4_2.0", 128, 128), _c("conv4_3.0", 128, 128)]
    s += [_c("conv4_4.0.0", 256, 128)] + _ifan_rb("conv4_4.1", 128, 2) + _ifan_rb("conv4_4.2", 128, 2)
    s += [_c("conv4_4.3.0", 128, 128)]
    s += [_c("conv_res.0.0", 128, 128)] + _ifan_rb("conv_res.1", 128, 3) + [_c("conv_res.2.0", 128, 128)]
    s += [_ct("upconv3_u.0", 128, 128, 4)] + _ifan_rb("upconv3_1", 128, 1) + _ifan_rb("upconv3_2", 128, 1)
    s += [_ct("upconv2_u.0", 128, 64, 4)] + _ifan_rb("upconv2_1", 64, 1) + _ifan_rb("upconv2_2", 64, 1)
    s += [_ct("upconv1_u.0", 64, 32, 4)] + _ifan_rb("upconv1_1", 32, 1) + _ifan_rb("upconv1_2", 32, 1)
    s += [_c("out_res.0", 32, 3, role=IMAGE_HEAD)]
    s += [_c("kconv1_1.0", 6 if dual else 3, 32), _c("kconv1_2.0", 32, 32), _c("kconv1_3.0", 32, 32)]
    s += [_c("kconv2_1.0", 32, 64), _c("kconv2_2.0", 64, 64), _c("kconv2_3.0", 64, 64)]
    s += [_c("kconv3_1.0", 64, 128), _c("kconv3_2.0", 128, 128), _c("kconv3_3.0", 128, 128)]
    s += [_c("kconv4_1.0", 128, 128), _c("kconv4_2.0", 128, 128), _c("kconv4_3.0", 128, 128)]
    s += [_c("DME.0.0", 128, 128)] + _ifan_rb("DME.1", 128, 2) + _ifan_rb("DME.2", 128, 2)
    s += [_c("DME.3", 128, 1, role=LINEAR), _c("conv_DME.0", 1, 128)]
    s += [_c("F.0.0", 128, 128)] + _ifan_rb("F.1", 128, 2) + _ifan_rb("F.2", 128, 2)
    s += [_c("F.3", 128, IFAN_FILTER_ROWS_PER_ITERATION * iterations, 1, IAC_HEAD)]
    return s


# --------------------------------------------------------------------------- ASPDC

ASPDC_STAGES = ("en_res_group1", "en_res_group2", "en_res_group3", "de_res_group3", "de_res_group2", "de_res_group1")


def _aspdc_rb(name: str, c: int) -> list[ConvSpec]:
    """ASPDC ResBlock: ``name.model.0`` (conv+LReLU) and ``name.model.2`` (conv, then + x)."""
    return [_c(f"{name}.model.0", c, c), _c(f"{name}.model.2", c, c, role=RES2)]


def aspdc_convs() -> list[ConvSpec]:
    """The 149 convolutions of ASPDC's DeblurringNet (aspdc.md §2), in state_dict order."""
    s: list[ConvSpec] = [_c("head.0", 3, 32)] + _aspdc_rb("head.2", 32) + _aspdc_rb("head.3", 32)
    s += [_c("head.4", 32, 64), _c("head.6", 64, 128)]
    for st in ASPDC_STAGES:
        s += _aspdc_rb(f"{st}_1.0", 128) + _aspdc_rb(f"{st}_1.1", 128)
        h = f"{st}_2"
        s += [_c(f"{h}.res_conv.0", 128, 128)]
        s += [_c(f"{h}.hallucination_d0.m_conv", 128, 9, role=DCN_MASK), _c(f"{h}.hallucination_d0.dconv", 128, 128)]
        for d in (1, 2, 3):
            p = f"{h}.hallucination_d{d}.hallucination_conv"
            s += [
                _c(f"{p}.p_conv", 128, 18, role=DCN_OFFSET),
                _c(f"{p}.m_conv", 128, 9, role=DCN_MASK),
                _c(f"{p}.dconv", 128, 128),
            ]
        s += [_c(f"{h}.mask_conv.0", 128, 128)] + _aspdc_rb(f"{h}.mask_conv.2", 128) + _aspdc_rb(f"{h}.mask_conv.3", 128)
        s += [_c(f"{h}.mask_conv.4", 128, 4, 1, LINEAR), _c(f"{h}.fusion_conv", 128, 128, role=RES2)]
    s += [_c("dense_conv.0", 768, 128), _ct("tail.0", 128, 64, 3), _ct("tail.2", 64, 32, 3)]
    s += [_c("tail.4", 32, 3, role=IMAGE_HEAD)]
    return s


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Architecture:
    """Everything the converter knows about one network."""

    name: str
    title: str
    payload_keys: tuple[str, ...]  # dict keys that hold the state dict in official files
    wrapper_prefix: str  # prefix inside the state dict after 'module.' (IFAN: 'Network.')
    dropped_prefixes: tuple[str, ...]  # training-only sub-networks to drop silently
    base_metadata: Mapping[str, str]
    variants: tuple[str, ...]  # names accepted by --variant

    def convs(self, variant: Variant) -> list[ConvSpec]:
        if self.name == "stfan":
            return stfan_convs()
        if self.name == "ifan":
            return ifan_convs(int(variant.params["iterations"]), bool(variant.params["dual"]))
        return aspdc_convs()

    def expected_shapes(self, variant: Variant) -> "OrderedDict[str, tuple[int, ...]]":
        return _specs_to_shapes(self.convs(variant))

    def signature_keys(self) -> set[str]:
        """Key names (independent of the variant) used to recognise the architecture."""
        return set(_specs_to_shapes(self.convs(self.default_variant())))

    def default_variant(self) -> Variant:
        return self.detect_variant({}, None)

    def detect_variant(self, tensors: Mapping[str, np.ndarray], requested: str | None) -> Variant:
        """Derive the variant from the tensor shapes; ``requested`` (``--variant``) supplies
        what the keys cannot tell and must agree with what they do tell."""
        if self.name == "stfan":
            return _simple_variant(self, "STFAN", requested)
        if self.name == "aspdc":
            return _aspdc_variant(self, requested)
        return _ifan_variant(self, tensors, requested)


def _simple_variant(arch: Architecture, name: str, requested: str | None) -> Variant:
    if requested is not None and requested.lower() not in {v.lower() for v in arch.variants}:
        raise ConversionError(
            f"unknown --variant {requested!r} for {arch.name}; choose one of {', '.join(arch.variants)}"
        )
    return Variant(name)


def _aspdc_variant(arch: Architecture, requested: str | None) -> Variant:
    # The fine-tuned (FT) and not-fine-tuned (NF) releases have identical keys; only the
    # caller can name which file this is.
    if requested is None:
        return Variant("DeblurringNet")
    table = {"ft": "DeblurringNet_FT", "deblurringnet_ft": "DeblurringNet_FT",
             "nf": "DeblurringNet_NF", "deblurringnet_nf": "DeblurringNet_NF",
             "deblurringnet": "DeblurringNet"}
    name = table.get(requested.lower())
    if name is None:
        raise ConversionError(
            f"unknown --variant {requested!r} for aspdc; choose one of {', '.join(arch.variants)}"
        )
    return Variant(name)


def _ifan_variant(arch: Architecture, tensors: Mapping[str, np.ndarray], requested: str | None) -> Variant:
    iterations = 17
    w = tensors.get("F.3.weight")
    if w is not None and w.ndim == 4 and w.shape[0] > 0 and w.shape[0] % IFAN_FILTER_ROWS_PER_ITERATION == 0:
        iterations = w.shape[0] // IFAN_FILTER_ROWS_PER_ITERATION
    k = tensors.get("kconv1_1.0.weight")
    dual = bool(k is not None and k.ndim == 4 and k.shape[1] == 6)
    if dual:
        detected = "IFAN_dual" if iterations == 17 else f"IFAN_dual_{iterations}"
    else:
        detected = "IFAN" if iterations == 17 else f"IFAN_{iterations}"
    bits = 8
    if requested is not None:
        req = requested.strip()
        if req.lower() in ("16bit", "ifan_16bit"):
            if detected != "IFAN":
                raise ConversionError(
                    f"--variant {requested} needs the N=17 single-image network, but the checkpoint is {detected}"
                )
            bits = 16
        elif req.lower() in ("8bit",):
            pass
        elif req.lower() != detected.lower():
            raise ConversionError(
                f"--variant {requested} does not match the checkpoint, which is {detected} "
                f"(N={iterations} from F.3.weight, {'6' if dual else '3'}-channel kconv1_1.0.weight)"
            )
    name = "IFAN_16bit" if bits == 16 else detected
    scale = "65535" if bits == 16 else "255"
    return Variant(
        name,
        params={"iterations": iterations, "dual": dual, "bits": bits},
        metadata={
            "iterations": str(iterations),
            "dual_pixel": "true" if dual else "false",
            "bit_depth": str(bits),
            "input_scale": scale,
            "inputs": "C,R,L" if dual else "C",
        },
    )


ARCHITECTURES: "OrderedDict[str, Architecture]" = OrderedDict(
    stfan=Architecture(
        name="stfan",
        title="STFAN (ICCV 2019, video deblurring)",
        payload_keys=("deblurnet_state_dict",),
        wrapper_prefix="",
        dropped_prefixes=(),
        base_metadata={
            "channel_order": "BGR",
            "input_scale": "255",
            "input_range": "0,1",
            "output_range": "0,1",
            "output_clamped": "false",
            "size_multiple": "4",
            "size_policy": "pad",
            "recurrent": "true",
            "fac_kernel_size": "5",
        },
        variants=("STFAN",),
    ),
    ifan=Architecture(
        name="ifan",
        title="IFAN (CVPR 2021, defocus deblurring)",
        payload_keys=(),
        wrapper_prefix="Network.",
        dropped_prefixes=("reblurNet.",),
        base_metadata={
            "channel_order": "RGB",
            "input_scale": "255",
            "input_range": "0,1",
            "output_range": "0,1",
            "output_clamped": "true",
            "size_multiple": "8",
            "size_policy": "pad",
            "recurrent": "false",
            "iac_filter_size": "3",
        },
        variants=("IFAN", "IFAN_8", "IFAN_26", "IFAN_35", "IFAN_44", "IFAN_16bit", "IFAN_dual", "16bit"),
    ),
    aspdc=Architecture(
        name="aspdc",
        title="ASPDC (CVPR 2022 NTIRE workshop, motion deblurring)",
        payload_keys=("deblurring_state_dict",),
        wrapper_prefix="",
        dropped_prefixes=(),
        base_metadata={
            "channel_order": "RGB",
            "input_scale": "255",
            "input_range": "-1,1",
            "output_range": "-1,1",
            "output_clamped": "false",
            "size_multiple": "4",
            "size_policy": "pad",
            "recurrent": "false",
        },
        variants=("DeblurringNet", "DeblurringNet_FT", "DeblurringNet_NF", "FT", "NF"),
    ),
)


def get_architecture(name: str) -> Architecture:
    """Look up an architecture by name (case-insensitive)."""
    arch = ARCHITECTURES.get(name.lower()) if isinstance(name, str) else None
    if arch is None:
        raise ConversionError(f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}")
    return arch


def check_shapes(
    arch: Architecture, variant: Variant, tensors: Mapping[str, np.ndarray]
) -> None:
    """Require exactly the expected keys with the expected shapes; report every problem."""
    expected = arch.expected_shapes(variant)
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    mismatched = [
        (k, tuple(tensors[k].shape), shape)
        for k, shape in expected.items()
        if k in tensors and tuple(tensors[k].shape) != shape
    ]
    if not (missing or unexpected or mismatched):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing: " + ", ".join(missing))
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected: " + ", ".join(unexpected))
    if mismatched:
        parts.append(
            f"{len(mismatched)} with wrong shape: "
            + ", ".join(f"{k} {_fmt(got)} (expected {_fmt(exp)})" for k, got, exp in mismatched)
        )
    raise ConversionError(
        f"checkpoint does not match {arch.name} variant {variant.name}: " + "; ".join(parts),
        missing=missing,
        unexpected=unexpected,
        mismatched=mismatched,
    )


def _fmt(shape: Sequence[int]) -> str:
    return "[" + ",".join(str(s) for s in shape) + "]"
