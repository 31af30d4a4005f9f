export const compiledCli: string;
export function compiledCliIsCurrent(): boolean;
