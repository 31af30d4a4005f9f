/**
 * Thrown by a block decoder whose output would pass the block's decoded size: a corrupt block or a
 * decompression bomb. The reader turns it into a RasterError naming the block.
 */
export class BlockOverrun extends Error {
  constructor(readonly maxBytes: number) {
    super(`it decodes to more than the ${maxBytes} bytes of its block`);
    this.name = 'BlockOverrun';
  }
}
