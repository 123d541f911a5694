"""Read an OCI image layout (image-spec v1): a directory, or a tar of one (an oci-archive, as
``podman save --format oci-archive`` or ``skopeo copy ... oci-archive:`` write).

    image = open_image("/srv/alpine-oci")            # or "alpine.tar", or "/srv/layout:3.20" (a ref name)
    image.manifest_digest, image.config              # the image config's "config" (Entrypoint, Cmd, Env, ...)
    for layer in image.layers: ...                   # descriptors, bottom first; image.open_blob(d) reads one

Every blob read is checked against its digest. index.json may nest indexes; the manifest for this
machine's platform is chosen, or the one whose ``org.opencontainers.image.ref.name`` is the ref.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile

from ..errors import ImageError

REF_ANNOTATION = "org.opencontainers.image.ref.name"
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")
# layer media types tarfile reads (plain, gzip); zstd needs a decoder the standard library lacks
LAYER_TYPES = ("application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip",
               "application/vnd.oci.image.layer.nondistributable.v1.tar",
               "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
               "application/vnd.docker.image.rootfs.diff.tar.gzip",
               "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")
DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
        "s390x": "s390x", "riscv64": "riscv64"}
MAX_JSON = 4 << 20   # an index, manifest or config larger than this is not one


def is_layout_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "oci-layout"))


def is_layout_archive(path: str) -> bool:
    """A tar file holding an OCI layout at its top (``oci-layout``, ``index.json``, ``blobs/``).
    A rootfs tarball is told apart at its first member outside those, without reading on."""
    seen = set()
    try:
        with tarfile.open(path, mode="r|*") as tar:
            for member in tar:
                name = os.path.normpath(member.name).lstrip("/")
                if name in ("oci-layout", "index.json"):
                    seen.add(name)
                elif name not in (".", "blobs") and not name.startswith("blobs/"):
                    return False
    except (tarfile.TarError, OSError, EOFError):
        return False
    return seen == {"oci-layout", "index.json"}


def host_platform() -> tuple[str, str]:
    machine = os.uname().machine
    return "linux", ARCH.get(machine, machine)


class VerifiedReader:
    """A file object that hashes what is read; ``verify()`` reads the rest and checks the digest."""

    def __init__(self, f, digest: str, what: str) -> None:
        self.f = f
        self.algorithm, self.expected = digest.split(":", 1)
        self.hash = hashlib.new(self.algorithm)
        self.what = what

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.hash.update(data)
        return data

    def verify(self) -> None:
        while self.read(1 << 20):
            pass
        if self.hash.hexdigest() != self.expected:
            raise ImageError(f"{self.what}: content does not match its digest "
                             f"{self.algorithm}:{self.expected}")

    def close(self) -> None:
        self.f.close()


class Image:
    """One image of a layout: its manifest, config and layers."""

    def __init__(self, path: str, ref: str | None = None) -> None:
        self.path = path
        self.tar: tarfile.TarFile | None = None
        if not os.path.isdir(path):
            try:
                self.tar = tarfile.open(path)
            except (tarfile.TarError, OSError) as err:
                raise ImageError(f"{path}: not an OCI image layout or oci-archive: {err}") from err
        try:
            self.load(ref)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()
            self.tar = None

    def __enter__(self) -> "Image":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reading --------------------------------------------------------------------------------

    def open_file(self, rel: str):
        if self.tar is None:
            try:
                return open(os.path.join(self.path, rel), "rb")
            except OSError as err:
                raise ImageError(f"{self.path}: cannot read {rel}: {err.strerror or err}") from err
        try:
            member = self.tar.getmember(rel)
        except KeyError:
            try:
                member = self.tar.getmember("./" + rel)
            except KeyError:
                raise ImageError(f"{self.path}: no {rel} in the archive") from None
        f = self.tar.extractfile(member) if member.isreg() else None
        if f is None:
            raise ImageError(f"{self.path}: {rel} in the archive is not a regular file")
        return f

    def open_blob(self, descriptor: dict) -> VerifiedReader:
        digest = descriptor.get("digest")
        if not isinstance(digest, str) or not DIGEST.match(digest):
            raise ImageError(f"{self.path}: bad digest {digest!r}")
        algorithm, hexpart = digest.split(":", 1)
        return VerifiedReader(self.open_file(f"blobs/{algorithm}/{hexpart}"), digest, f"{self.path}: blob {digest}")

    def read_json(self, rel: str | None = None, descriptor: dict | None = None) -> dict:
        if descriptor is not None:
            what = f"blob {descriptor.get('digest')}"
            reader = self.open_blob(descriptor)
            data = reader.read(MAX_JSON + 1)
            if len(data) <= MAX_JSON:
                reader.verify()
            reader.close()
        else:
            what = rel
            with self.open_file(rel) as f:
                data = f.read(MAX_JSON + 1)
        if len(data) > MAX_JSON:
            raise ImageError(f"{self.path}: {what} is larger than {MAX_JSON} bytes")
        try:
            doc = json.loads(data)
        except ValueError as err:
            raise ImageError(f"{self.path}: {what} is not valid JSON: {err}") from err
        if not isinstance(doc, dict):
            raise ImageError(f"{self.path}: {what} is not a JSON object")
        return doc

    # -- choosing the manifest ------------------------------------------------------------------

    def load(self, ref: str | None) -> None:
        layout = self.read_json("oci-layout")
        if not isinstance(layout.get("imageLayoutVersion"), str):
            raise ImageError(f"{self.path}: oci-layout has no imageLayoutVersion")
        descriptor = self.choose(self.read_json("index.json"), ref, "index.json", top=True)
        manifest = self.read_json(descriptor=descriptor)
        media = manifest.get("mediaType", descriptor.get("mediaType"))
        if media not in MANIFEST_TYPES and media is not None:
            raise ImageError(f"{self.path}: manifest {descriptor['digest']} has media type {media!r}, not an image manifest")
        config_desc, layers = manifest.get("config"), manifest.get("layers")
        if not isinstance(config_desc, dict) or not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
            raise ImageError(f"{self.path}: manifest {descriptor['digest']} lacks a config or layers")
        for layer in layers:
            if layer.get("mediaType") not in LAYER_TYPES:
                raise ImageError(f"{self.path}: layer {layer.get('digest')} has media type "
                                 f"{layer.get('mediaType')!r}, which nsbox cannot unpack (plain and gzip tar only)")
        image_config = self.read_json(descriptor=config_desc)
        os_name = image_config.get("os")
        if os_name not in (None, "linux"):
            raise ImageError(f"{self.path}: the image is for {os_name!r}, not linux")
        self.manifest_digest: str = descriptor["digest"]
        self.layers: list[dict] = layers
        config = image_config.get("config")
        self.config: dict = config if isinstance(config, dict) else {}

    def choose(self, index: dict, ref: str | None, where: str, top: bool) -> dict:
        """The manifest descriptor in ``index`` (recursing into nested indexes)."""
        manifests = index.get("manifests")
        if not isinstance(manifests, list) or not all(isinstance(m, dict) for m in manifests):
            raise ImageError(f"{self.path}: {where} has no manifests list")
        candidates = manifests
        if top and ref is not None:
            candidates = [m for m in manifests if (m.get("annotations") or {}).get(REF_ANNOTATION) == ref]
            if not candidates:
                raise ImageError(f"{self.path}: no image named {ref!r} (names: {', '.join(self.ref_names(manifests)) or 'none'})")
        os_name, arch = host_platform()
        fitting = [m for m in candidates if platform_fits(m.get("platform"), os_name, arch)]
        if not fitting:
            raise ImageError(f"{self.path}: no image for {os_name}/{arch} in {where}")
        if len(fitting) > 1 and top and ref is None:
            names = self.ref_names(fitting)
            raise ImageError(f"{self.path}: {len(fitting)} images in the layout; name one as PATH:REF "
                             f"(names: {', '.join(names) or 'none'})")
        chosen = fitting[0]
        if chosen.get("mediaType") in INDEX_TYPES:
            return self.choose(self.read_json(descriptor=chosen), None, f"index {chosen.get('digest')}", top=False)
        return chosen

    @staticmethod
    def ref_names(manifests: list[dict]) -> list[str]:
        return [m["annotations"][REF_ANNOTATION] for m in manifests
                if isinstance(m.get("annotations"), dict) and isinstance(m["annotations"].get(REF_ANNOTATION), str)]


def platform_fits(plat, os_name: str, arch: str) -> bool:
    if not isinstance(plat, dict):
        return True
    return plat.get("os", os_name) == os_name and plat.get("architecture", arch) == arch


def split_ref(spec: str) -> tuple[str, str | None]:
    """``PATH`` or ``PATH:REF`` (when PATH exists and the whole does not), as skopeo's oci: transport.
    A ref may hold colons and slashes (``localhost/app:1``): the longest existing PATH wins."""
    if os.path.exists(spec):
        return spec, None
    cut = len(spec)
    while (cut := spec.rfind(":", 0, cut)) > 0:
        if cut + 1 < len(spec) and os.path.exists(spec[:cut]):
            return spec[:cut], spec[cut + 1:]
    return spec, None


def open_image(spec: str) -> Image:
    path, ref = split_ref(spec)
    return Image(path, ref)
