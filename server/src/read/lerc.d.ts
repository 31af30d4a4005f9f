// lerc (Esri's LERC decoder, a dependency of geotiff.js) ships no types; this is the one call we use.
declare module 'lerc' {
  const Lerc: {
    decode(input: ArrayBuffer, options?: { returnPixelInterleavedDims?: boolean }): { width: number; height: number; pixels: ArrayBufferView[] };
  };
  export default Lerc;
}
