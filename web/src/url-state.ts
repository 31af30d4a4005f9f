/**
 * The view in the address hash, `#dataset=<id>&result=<id>&map=<zoom>/<lat>/<lon>`, so a view
 * can be shared. Written with replaceState: panning must not fill the browser history.
 */
export interface MapPosition { zoom: number; lat: number; lon: number }

export interface ViewState {
  dataset?: string;
  result?: string;
  map?: MapPosition;
}

export function parseHash(hash: string): ViewState {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const state: ViewState = {};
  const dataset = params.get('dataset');
  const result = params.get('result');
  if (dataset) state.dataset = dataset;
  if (result) state.result = result;
  const parts = (params.get('map') ?? '').split('/').map(Number);
  if (parts.length === 3 && parts.every(Number.isFinite)) {
    const [zoom, lat, lon] = parts as [number, number, number];
    if (zoom >= 0 && zoom <= 24 && Math.abs(lat) <= 90 && Math.abs(lon) <= 180) state.map = { zoom, lat, lon };
  }
  return state;
}

export function formatHash(state: ViewState): string {
  // Built by hand: URLSearchParams would escape the slashes of map=.
  const parts: string[] = [];
  if (state.dataset) parts.push(`dataset=${encodeURIComponent(state.dataset)}`);
  if (state.result) parts.push(`result=${encodeURIComponent(state.result)}`);
  if (state.map) {
    const { zoom, lat, lon } = state.map;
    // Five decimals of a degree are about a metre: enough to share a view.
    parts.push(`map=${zoom.toFixed(2)}/${lat.toFixed(5)}/${lon.toFixed(5)}`);
  }
  return parts.length ? `#${parts.join('&')}` : '';
}

/**
 * Keeps the hash in step with the view. Its own writes use replaceState, which fires no
 * hashchange, so every hashchange it hears comes from outside.
 */
export class UrlState {
  private state: ViewState;

  constructor() {
    this.state = parseHash(window.location.hash);
  }

  get current(): ViewState {
    return { ...this.state };
  }

  update(change: Partial<ViewState>): void {
    this.state = { ...this.state, ...change };
    for (const k of Object.keys(this.state) as Array<keyof ViewState>) if (this.state[k] === undefined) delete this.state[k];
    const hash = formatHash(this.state);
    if (hash === window.location.hash) return;
    history.replaceState(history.state, '', `${window.location.pathname}${window.location.search}${hash}`);
  }

  /** Calls back when someone else (a pasted link, the back button) changes the hash. */
  onExternalChange(callback: (state: ViewState) => void): void {
    window.addEventListener('hashchange', () => {
      this.state = parseHash(window.location.hash);
      callback(this.current);
    });
  }
}
