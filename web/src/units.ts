/**
 * Numbers as people read them: areas in km², shares in per cent, coordinates in degrees.
 */
export function formatKm2(m2: number): string {
  return `${km2Number(m2)} km²`;
}

/** An area in km² without the unit (for tables whose header says km²), more digits when small. */
export function km2Number(m2: number): string {
  const km2 = m2 / 1e6;
  if (km2 === 0) return '0';
  const size = Math.abs(km2);
  const digits = size >= 100 ? 0 : size >= 10 ? 1 : size >= 1 ? 2 : size >= 0.01 ? 3 : 4;
  return km2.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A change in km² with its sign: "+2.13", "−0.50" (a true minus), "0". */
export function signedKm2Number(m2: number): string {
  const text = km2Number(Math.abs(m2));
  if (text === '0' || /^0\.0*$/.test(text)) return text;
  return `${m2 > 0 ? '+' : '−'}${text}`;
}

/** A polygon's area: m² while small, hectares, then km². */
export function formatArea(m2: number): string {
  if (m2 < 10_000) return `${Math.round(m2).toLocaleString('en-US')} m²`;
  if (m2 < 1_000_000) return `${(m2 / 10_000).toLocaleString('en-US', { maximumFractionDigits: 2 })} ha`;
  return formatKm2(m2);
}

export function formatPercent(share: number): string {
  const p = share * 100;
  return `${p.toLocaleString('en-US', { maximumFractionDigits: p < 1 ? 2 : 1 })} %`;
}

export function formatLonLat(lon: number, lat: number): string {
  const ns = lat >= 0 ? 'N' : 'S';
  const ew = lon >= 0 ? 'E' : 'W';
  return `${Math.abs(lat).toFixed(5)}° ${ns}, ${Math.abs(lon).toFixed(5)}° ${ew}`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(0)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m} min ${Math.round(seconds % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}
